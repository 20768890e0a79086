plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "dev.arcedge.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.arcedge.demo"
        minSdk = 26 // Android 8.0: every arm64 phone of the last five years, and java.nio.file for the core
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            abiFilters += "arm64-v8a" // the XNNPACK kernels the bundles are tuned for
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    buildFeatures {
        buildConfig = true // BenchActivity reports the app version
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    packaging {
        jniLibs.useLegacyPackaging = false // keep .so files mmap-able from the APK
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.executorch.android)
    implementation(libs.androidx.core) // FileProvider (share the WAV), window insets
    implementation(libs.androidx.activity) // ComponentActivity: the ViewModel owner
    implementation(libs.androidx.lifecycle.viewmodel) // graphs outlive a rotation
    implementation(libs.androidx.lifecycle.livedata)
}

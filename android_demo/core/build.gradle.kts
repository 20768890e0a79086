// The app's logic that is not Android UI: bundle manifest, tokenizer, noise, ping-pong loop,
// windowed decoding, WAV, benchmark report, numerics self-test. Plain Java (and org.json, which
// Android ships), so it builds and is tested on any JVM.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    compileOnly(libs.android.json) // provided by Android at run time
    testImplementation(libs.android.json)
    testImplementation(libs.junit)
}

// Golden vectors come from the Python package and the native runner's C++ (tests/android_golden.py).
// Pass an exported bundle for the manifest tests: ./gradlew :core:test -Parcedge.bundle=/path/to/bundle
val goldenDir = layout.buildDirectory.dir("golden")
val makeGolden by tasks.registering(Exec::class) {
    val repo = rootProject.projectDir.parentFile
    val bundle = providers.gradleProperty("arcedge.bundle").orNull
        ?: error("pass -Parcedge.bundle=DIR (a bundle made with `arc-edge export`)")
    commandLine(listOf("python3", "$repo/tests/android_golden.py", goldenDir.get().asFile.path, "--bundle", bundle))
    workingDir = repo
}

tasks.test {
    dependsOn(makeGolden)
    systemProperty("arcedge.golden", goldenDir.get().asFile.path)
}

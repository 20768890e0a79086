#pragma once
#include <string>
#include <vector>

namespace arc {
// Interleaved samples in [-1, 1] -> RIFF WAV (16-bit PCM, or 32-bit float), written to a temp file
// and renamed into place so a reader never sees half a file.
void write_wav(const std::string& path, const std::vector<float>& interleaved, int channels, int sample_rate,
               bool float32);
}  // namespace arc

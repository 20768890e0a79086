#pragma once
#include <string>
#include <vector>

namespace arc {
// Interleaved samples -> RIFF WAV (16-bit PCM, or 32-bit float), written to a temp file and renamed
// into place so a reader never sees half a file. A clip whose peak is over full scale is divided by
// its peak rather than clipped (arc_edge.audio_io.write_wav's rule); returns that gain, or 1.
float write_wav(const std::string& path, const std::vector<float>& interleaved, int channels, int sample_rate,
                bool float32);
}  // namespace arc

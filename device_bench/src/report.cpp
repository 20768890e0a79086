#include "report.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace arc {

nlohmann::json run_to_json(const StageTimes& t) {
  return {{"conditioners_ms", t.conditioners_ms},
          {"dit_step_ms", t.step_ms},
          {"dit_total_ms", t.dit_total_ms},
          {"decoder_ms", t.decoder_ms},
          {"first_audio_ms", t.first_audio_ms},
          {"total_ms", t.total_ms},
          {"load_ms", t.load_ms},
          {"peak_rss_mb", {{"after_conditioners", t.rss_kb_after_conditioners / 1024.0},
                           {"after_dit", t.rss_kb_after_dit / 1024.0},
                           {"after_decoder", t.rss_kb_after_decoder / 1024.0}}}};
}

void write_report(const std::string& path, const nlohmann::json& report) {
  const std::string tmp = path + ".part";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write report " + path);
    out << report.dump(2) << '\n';
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error("writing report " + path + " failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot move report to " + path);
}

}  // namespace arc

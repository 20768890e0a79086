#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "pipeline.hpp"

namespace arc {
nlohmann::json run_to_json(const StageTimes& t);
// Writes atomically (temp file + rename).
void write_report(const std::string& path, const nlohmann::json& report);
}  // namespace arc

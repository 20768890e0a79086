// The on-device numerics self-test (arc_edge/export/selftest.py): every graph runs on the parity
// inputs the bundle carries and its outputs are compared with the eager fp32 outputs stored beside
// them, by SNR against the recipe's threshold.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bundle.hpp"
#include "pipeline.hpp"

namespace arc {

// Runs every graph of the bundle's self-test; returns {"passed": bool, "graphs": {name: {snr_db,
// min_snr_db, passed}}}. Throws std::runtime_error if the self-test data is missing or malformed.
nlohmann::json run_selftest(const Manifest& m);

}  // namespace arc

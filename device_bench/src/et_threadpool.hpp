// The two ExecuTorch threadpool entry points the runner needs. The pip wheel ships
// libexecutorch_threadpool.so but not its header; these declarations match its exported symbols
// (executorch/extension/threadpool/threadpool.h upstream). Only a pointer is held, so the class
// layout is not needed.
#pragma once

#include <cstdint>

namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

// The ExecuTorch threadpool entry points the runner needs. The pip wheel ships
// libexecutorch_threadpool.so but not its header; these declarations match its exported symbols
// (executorch/extension/threadpool/threadpool.h upstream). Only a pointer is held, so the class
// layout is not needed.
#pragma once

#include <cstddef>
#include <cstdint>

struct pthreadpool;
extern "C" size_t pthreadpool_get_threads_count(pthreadpool* pool);

namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
pthreadpool* get_pthreadpool();  // the pool XNNPACK runs on
}  // namespace executorch::extension::threadpool

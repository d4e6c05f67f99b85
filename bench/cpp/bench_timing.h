// The timing loop of the standalone kernel benches (bench/cpp): one untimed warm-up call
// (primitive creation, page faults), then the mean seconds of `runs` calls.
#pragma once

#include <chrono>
#include <functional>

inline double seconds_per_call(const std::function<void()>& fn, int runs) {
  fn();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / runs;
}

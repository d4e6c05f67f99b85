#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "i2v/core/log.h"
#include "i2v/core/runtime.h"
#include "i2v/error.h"
#include "support/test_support.h"

namespace i2v {

TEST(Runtime, ConfigureThreadsUsesAllCoresByDefault) {
  int n = configure_threads();
  EXPECT_EQ(n, available_cpus());
  EXPECT_EQ(at::get_num_threads(), n);
  EXPECT_EQ(configure_threads(1), 1);
  configure_threads();
}

TEST(Runtime, VersionReportNamesLibtorch) {
  std::string r = version_report();
  EXPECT_NE(r.find(version()), std::string::npos);
  EXPECT_NE(r.find("libtorch " + torch_version()), std::string::npos);
}

TEST(Runtime, UnknownLogLevelIsAConfigError) {
  EXPECT_THROW(set_log_level("loud"), ConfigError);
  EXPECT_NO_THROW(set_log_level("warn"));
  set_log_level("info");
}

TEST(Cli, VersionAndHelp) {
  std::string out;
  ASSERT_EQ(test::run_command(test::i2v_binary().string() + " --version", &out), 0) << out;
  EXPECT_NE(out.find("libtorch"), std::string::npos) << out;
  EXPECT_NE(out.find("CUDA"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(test::i2v_binary().string() + " --help", &out), 0) << out;
  EXPECT_NE(out.find("info"), std::string::npos) << out;
  EXPECT_NE(test::run_command(test::i2v_binary().string() + " --no-such-flag", &out), 0);
}

}  // namespace i2v

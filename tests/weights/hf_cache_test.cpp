// Offline Hugging Face cache layout: models--ORG--NAME/{refs/main, snapshots/<commit>/} with
// snapshot files linked into the cache, located through HF_HUB_CACHE / HF_HOME.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/weights/hf_cache.h"
#include "i2v/weights/model_dir.h"
#include "weights_test_util.h"

namespace i2v::weights {
namespace {

namespace fs = std::filesystem;
using test::ScopedEnv;
using test::TempDir;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

// A cache holding ali-vilab/i2vgen-xl whose snapshot links every file of the golden pipeline
// (the hub stores snapshot entries as symlinks into blobs/).
void make_fake_cache(const fs::path& cache, const std::string& commit = kCommit,
                     bool write_ref = true) {
  fs::path repo = cache / "models--ali-vilab--i2vgen-xl";
  fs::path snap = repo / "snapshots" / commit;
  fs::create_directories(snap);
  fs::create_directories(repo / "blobs");
  if (write_ref) {
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << commit;  // no trailing newline, like the hub writes
  }
  for (const auto& entry : fs::recursive_directory_iterator(test::golden_pipeline())) {
    fs::path rel = fs::relative(entry.path(), test::golden_pipeline());
    if (entry.is_directory())
      fs::create_directories(snap / rel);
    else
      fs::create_symlink(entry.path(), snap / rel);
  }
}

TEST(HfCache, RepoIdsAreRecognised) {
  EXPECT_TRUE(is_repo_id("ali-vilab/i2vgen-xl"));
  EXPECT_TRUE(is_repo_id("org_1/name.v2"));
  EXPECT_FALSE(is_repo_id("i2vgen-xl"));
  EXPECT_FALSE(is_repo_id("/abs/path"));
  EXPECT_FALSE(is_repo_id("a/b/c"));
  EXPECT_FALSE(is_repo_id("../x"));
  EXPECT_FALSE(is_repo_id("org/"));
}

TEST(HfCache, CacheFolderFollowsTheEnvironment) {
  ScopedEnv a("HF_HUB_CACHE", std::nullopt), b("HUGGINGFACE_HUB_CACHE", std::nullopt),
      c("HF_HOME", std::nullopt), d("XDG_CACHE_HOME", std::nullopt), e("HOME", "/home/u");
  std::string why;
  EXPECT_EQ(hub_cache_dir(&why), fs::path("/home/u/.cache/huggingface/hub"));
  {
    ScopedEnv x("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(hub_cache_dir(), fs::path("/xdg/huggingface/hub"));
    ScopedEnv h("HF_HOME", "/hf");
    EXPECT_EQ(hub_cache_dir(&why), fs::path("/hf/hub"));
    EXPECT_EQ(why, "$HF_HOME/hub");
    ScopedEnv hc("HF_HUB_CACHE", "/cache");
    EXPECT_EQ(hub_cache_dir(&why), fs::path("/cache"));
    EXPECT_EQ(why, "$HF_HUB_CACHE");
  }
}

TEST(HfCache, RepoIdResolvesThroughHfHubCache) {
  TempDir tmp;
  make_fake_cache(tmp / "hub");
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  ModelDir dir = ModelDir::open("ali-vilab/i2vgen-xl");
  EXPECT_EQ(dir.root(), tmp / "hub" / "models--ali-vilab--i2vgen-xl" / "snapshots" / kCommit);
  EXPECT_NE(dir.description().find(kCommit), std::string::npos) << dir.description();
  EXPECT_EQ(dir.index().class_name, "I2VGenXLPipeline");
  // Weight files behind symlinks are found and open.
  WeightFiles w = dir.weight_files("unet", {VariantMode::Fp16});
  EXPECT_EQ(w.files.at(0).filename(), "diffusion_pytorch_model.fp16.safetensors");
  StateDict sd = dir.open_weights("unet", {VariantMode::None});
  EXPECT_EQ(sd.names(), StateDict::open({test::golden_pipeline() / "unet" /
                                         "diffusion_pytorch_model.safetensors"})
                            .names());
  // By commit hash too, and by the repo folder path.
  EXPECT_EQ(ModelDir::open("ali-vilab/i2vgen-xl", kCommit).root(), dir.root());
  EXPECT_EQ(ModelDir::open((tmp / "hub" / "models--ali-vilab--i2vgen-xl").string()).root(),
            dir.root());
}

TEST(HfCache, RepoIdResolvesThroughHfHome) {
  TempDir tmp;
  make_fake_cache(tmp / "home" / "hub");
  ScopedEnv a("HF_HUB_CACHE", std::nullopt), b("HUGGINGFACE_HUB_CACHE", std::nullopt);
  ScopedEnv env("HF_HOME", (tmp / "home").string());
  ModelDir dir = ModelDir::open("ali-vilab/i2vgen-xl");
  EXPECT_EQ(dir.root(),
            tmp / "home" / "hub" / "models--ali-vilab--i2vgen-xl" / "snapshots" / kCommit);
  EXPECT_NE(dir.description().find("HF_HOME"), std::string::npos) << dir.description();
}

TEST(HfCache, SingleSnapshotWithoutRefsIsUsed) {
  TempDir tmp;
  make_fake_cache(tmp / "hub", kCommit, /*write_ref=*/false);
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  EXPECT_EQ(ModelDir::open("ali-vilab/i2vgen-xl").root().filename(), kCommit);
}

TEST(HfCache, UnknownRepoOrRevisionListsWhereItLooked) {
  TempDir tmp;
  make_fake_cache(tmp / "hub");
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  try {
    ModelDir::open("someone/other-model");
    FAIL();
  } catch (const IoError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find((tmp / "hub" / "models--someone--other-model").string()), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("HF_HUB_CACHE"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no local folder 'someone/other-model'"), std::string::npos) << msg;
  }
  try {
    ModelDir::open("ali-vilab/i2vgen-xl", "v2");
    FAIL();
  } catch (const IoError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("refs/v2"), std::string::npos) << msg;
    EXPECT_NE(msg.find(kCommit), std::string::npos) << msg;  // lists the snapshots present
    EXPECT_NE(msg.find("main"), std::string::npos) << msg;   // and the refs
  }
  // A ref pointing to a commit whose snapshot is gone.
  std::ofstream(tmp / "hub" / "models--ali-vilab--i2vgen-xl" / "refs" / "main") << "feedbeef";
  EXPECT_THROW(ModelDir::open("ali-vilab/i2vgen-xl"), IoError);
}

TEST(ModelDirErrors, FoldersThatAreNotPipelines) {
  TempDir tmp;
  try {
    ModelDir::open(tmp.path().string());
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("model_index.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ModelDir::open("no-such-folder"), IoError);
  EXPECT_THROW(ModelDir::open(""), ConfigError);
  std::ofstream(tmp / "model_index.json") << "{\"_class_name\": \"X\", \"unet\": [\"diffusers\"]}";
  EXPECT_THROW(ModelDir::open(tmp.path().string()), ConfigError);
  std::ofstream(tmp / "model_index.json") << "[1, 2";
  EXPECT_THROW(ModelDir::open(tmp.path().string()), FormatError);
  // A component listed in the index whose folder is missing.
  std::ofstream(tmp / "model_index.json") << "{\"_class_name\": \"X\", \"unet\": [\"diffusers\", "
                                             "\"U\"], \"safety_checker\": [null, null]}";
  ModelDir dir = ModelDir::open(tmp.path().string());
  EXPECT_EQ(dir.index().names(), std::vector<std::string>{"unet"});
  EXPECT_THROW(dir.component_dir("unet"), IoError);
}

}  // namespace
}  // namespace i2v::weights

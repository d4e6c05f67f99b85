// Where a job's files go: outputs/video_YYYYMMDD_HHMMSS[_n].mp4, its metadata
// (video_....mp4.json) and thumbnail (video_....thumb.jpg); never overwriting anything. And the
// one rule for serving them back: a plain file name of an allowed kind, directly in outputs/.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace i2v::server {

struct OutputNames {
  std::filesystem::path video, metadata, thumbnail;
};

// Free names for a new video made now (local time), with the _n suffix when taken.
OutputNames new_output_names(const std::filesystem::path& outputs_dir);
// A job's names: video_<stamp>_j<job>-<attempt>.mp4, unique across workers sharing the folder
// (each writes only names of the attempts it holds).
OutputNames job_output_names(const std::filesystem::path& outputs_dir, int64_t job, int attempt);
// Removes the three files (those that exist).
void remove_output_files(const OutputNames& names);

// The file `name` inside `outputs_dir` when it is safe to serve: no separators, no "..", not
// hidden, an extension of a video, metadata or image, and a regular file that stays inside the
// folder after resolving links. nullopt otherwise.
std::optional<std::filesystem::path> servable_output(const std::filesystem::path& outputs_dir,
                                                     const std::string& name);

// Content type for the extensions servable_output allows.
std::string output_content_type(const std::filesystem::path& file);

}  // namespace i2v::server

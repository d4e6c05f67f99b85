// What a worker says about itself to the shared queue, and what a submitted job needs: the
// model (by name, so that the same model in different folders on different machines matches)
// and memory (the cheapest plan's predicted peak against the worker's planner budget).
#pragma once

#include <string>

#include "i2v/server/job_store.h"
#include "i2v/server/video_generator.h"

namespace i2v::server {

// The model's name: the last part of its folder or repo id ("i2vgen-xl", "tiny-i2vgen-xl").
std::string model_name_of(const nlohmann::json& description);

// This process as a worker: a new id, the host, the model's name (`model_name` when given),
// its device and the memory budget its planner fits plans into.
WorkerInfo local_worker_info(const VideoGenerator& generator, const std::string& model_name);

// What `request` needs from a worker of the model named `model_name`.
JobNeeds job_needs(const VideoGenerator& generator, const Request& request,
                   const std::string& model_name);

}  // namespace i2v::server

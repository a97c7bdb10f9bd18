#pragma once
// Flow logs at work (docs/operations.md, "Flow logs"): for each VPC with an
// enabled flow log, sockets in its router namespace hear the connections
// that end (conntrack destroy events) and the packets the firewall drops
// (NFLOG group kFlowLogGroup); at the end of each aggregation window the
// table is dumped, and what every connection carried since it was last seen
// is written as AWS-format records to <state>/flow-records/<vpc>.log
// (rotated by size) and handed to those following the stream.
//
// All on the daemon's loop: the kernel never waits for vpcd (an event or a
// dropped packet that finds the socket's queue full is lost, and the window
// says SKIPDATA), so a flood costs records, not forwarding.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/service.h"
#include "lib/model/flow_record.h"

namespace vpcd {

// A size-bounded record file: past `maxBytes` it moves to <path>.1 (the
// one before is dropped) and a new file starts, each with the field names
// as its first line.
class RecordFile {
 public:
  RecordFile(std::string path, uint64_t maxBytes) : path_(std::move(path)), max_(maxBytes) {}
  // Appends the lines; false (and a log line) when the disk refused them.
  bool append(const std::vector<std::string>& lines);
  const std::string& path() const { return path_; }
  static constexpr const char* kHeader =
      "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
      "start end action log-status";

 private:
  std::string path_;
  uint64_t max_;
};

// The last records of each VPC, for streams (kept across a flow log being
// switched off and on, so a follower keeps its place).
class RecordFeed {
 public:
  void add(const std::vector<std::string>& lines);
  // Lines from `cursor` on (moving it past them).
  std::string read(uint64_t& cursor) const;
  uint64_t next() const { return first_ + lines_.size(); }
  static constexpr size_t kKeep = 4096;

 private:
  std::deque<std::string> lines_;
  uint64_t first_ = 0;
};

// GET /v1/vpcs/{vpc}/flow-logs without ?follow: the newest `tail` records
// of the file at `path`, with the field names and whether the VPC logs now.
Reply recordsFromFile(const DesiredState& state, const std::string& vpc, const std::string& path,
                      const Query& q);

class FlowCollector {
 public:
  FlowCollector(boost::asio::io_context& io, std::string netnsDir,
                std::function<std::string(const std::string&)> pathOf,
                uint64_t maxBytes = kMaxBytes);
  ~FlowCollector();

  // The desired state changed (and at start): VPCs whose flow logs start
  // get their sockets, those that stop write their open window and let go.
  void follow(const DesiredState& state);
  // A namespace went away (deleted by hand): its sockets would keep it
  // alive, so they go now; they come back when the router does.
  void release(const std::string& ns);
  // Writes every open window (at shutdown).
  void flush();

  // GET /v1/vpcs/{vpc}/flow-logs: the newest records (?tail=N, default
  // 100), or with ?follow=1 those and every new one as it is written.
  // `active` says when a stream ends (the VPC is gone).
  Reply records(const DesiredState& state, const std::string& vpc, const Query& q,
                std::function<bool()> active);

  // What the collector wrote since start, per VPC (for the metrics).
  const std::map<std::string, FlowRecordCounts>& written() const { return written_; }

  static constexpr uint64_t kMaxBytes = 16 << 20;
  // How long messages gather before they are read (the sockets' queues of
  // 16 MiB hold far more than a pause's worth at any rate measured).
  static constexpr std::chrono::milliseconds kBatchPause{100};

 private:
  struct Source;
  struct Vpc;
  void open(const std::shared_ptr<Vpc>& v);
  void close(const std::shared_ptr<Vpc>& v);
  void armWindow(const std::shared_ptr<Vpc>& v);
  void armRead(const std::shared_ptr<Vpc>& v, Source& src, bool events);
  void closeWindow(Vpc& v);
  void drainEvents(Vpc& v);
  void drainDrops(Vpc& v);
  void retryLater();

  boost::asio::io_context& io_;
  std::string netnsDir_;
  std::function<std::string(const std::string&)> pathOf_;
  uint64_t maxBytes_;
  std::map<std::string, std::shared_ptr<Vpc>> vpcs_;
  std::map<std::string, std::shared_ptr<RecordFeed>> feeds_;
  std::map<std::string, FlowRecordCounts> written_;
  boost::asio::steady_timer retry_;
  bool retrying_ = false;
};

}  // namespace vpcd

// A real PostgreSQL server for the tests: started once per test binary in a temporary folder
// (scripts/pg-scratch: initdb + pg_ctl on a loopback port), stopped when the binary exits.
// Every fresh_database() is a new empty database, so tests never see each other's jobs.
#pragma once

#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace i2v::test {

class ScratchPostgres {
 public:
  static ScratchPostgres& get() {
    static ScratchPostgres instance;
    return instance;
  }
  // postgresql://i2v@127.0.0.1:PORT/<a new database>
  std::string fresh_database() {
    const std::string name = "t" + std::to_string(++databases_);
    PGconn* c = PQconnectdb(base_url_.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("scratch PostgreSQL: " + msg);
    }
    PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error("scratch PostgreSQL: CREATE DATABASE: " + msg);
    return base_url_.substr(0, base_url_.rfind('/') + 1) + name;
  }
  // Stops the server and starts it again on the same port (every connection breaks).
  void restart() {
    std::system((script() + " stop " + dir_ + " >/dev/null 2>&1").c_str());
    if (start() != base_url_) throw std::runtime_error("scratch PostgreSQL: the port changed");
  }
  ~ScratchPostgres() {
    std::system((script() + " stop " + dir_ + " >/dev/null 2>&1; rm -rf " + dir_).c_str());
  }

 private:
  ScratchPostgres() {
    char tmpl[] = "/tmp/i2v-pg-XXXXXX";  // short: the socket path has a length limit
    if (!mkdtemp(tmpl)) throw std::runtime_error("scratch PostgreSQL: cannot make a folder");
    dir_ = tmpl;
    base_url_ = start();
  }
  std::string start() {
    FILE* p = popen((script() + " start " + dir_ + " 2>&1").c_str(), "r");
    char buf[4096];
    std::string out;
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    const int rc = p ? pclose(p) : -1;
    if (rc != 0 || out.rfind("postgresql://", 0) != 0)
      throw std::runtime_error(
          "scratch PostgreSQL did not start (scripts/install-deps installs the server): " + out);
    return out.substr(0, out.find('\n'));
  }
  static std::string script() { return std::string(I2V_SOURCE_DIR) + "/scripts/pg-scratch"; }

  std::string dir_, base_url_;
  int databases_ = 0;
};

}  // namespace i2v::test

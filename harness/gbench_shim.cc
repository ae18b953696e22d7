// gbench_shim.cc — the extern "C" face of Google Benchmark 1.7.1 (see gbench_shim.h).
//
// The only C++ in claimbench. Each entry point catches every exception, so
// none crosses into C. gb_state is a benchmark::State seen through an opaque
// pointer. Per-case settings go through the library's flags (re-parsed by
// benchmark::Initialize), because per-benchmark settings change the name.

#include "gbench_shim.h"

#include <benchmark/benchmark.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

benchmark::State &S(gb_state *st) { return *reinterpret_cast<benchmark::State *>(st); }

int fail(char *err, size_t errlen, const std::string &msg)
{
    if (err && errlen) std::snprintf(err, errlen, "%s", msg.c_str());
    return -1;
}

// Forwards the library's report, unchanged, to a JSONReporter writing the
// case's file, and hands every run to the C callback as it is reported.
class ForwardingReporter : public benchmark::BenchmarkReporter {
  public:
    ForwardingReporter(std::ostream *json_out, gb_result_cb cb, void *user)
        : cb_(cb), user_(user)
    {
        json_.SetOutputStream(json_out);
        json_.SetErrorStream(json_out);
    }

    bool ReportContext(const Context &context) override { return json_.ReportContext(context); }

    void ReportRuns(const std::vector<Run> &runs) override
    {
        json_.ReportRuns(runs);
        for (const Run &r : runs) {
            n_runs_++;
            if (r.error_occurred && first_error_.empty())
                first_error_ = r.error_message.empty() ? "error" : r.error_message;
            if (!cb_) continue;
            const std::string name = r.benchmark_name();
            gb_result g;
            g.name = name.c_str();
            g.aggregate = r.run_type == Run::RT_Aggregate;
            g.aggregate_name = r.aggregate_name.c_str();
            g.repetition_index = g.aggregate ? -1 : r.repetition_index;
            g.iterations = static_cast<int64_t>(r.iterations);
            // The accumulated times are in seconds; aggregates are scaled so
            // that dividing by their `iterations` gives a per-call figure,
            // except the dimensionless ones (cv), reported as they are.
            if (g.aggregate && r.aggregate_unit == benchmark::kPercentage) {
                g.real_seconds = r.real_accumulated_time;
                g.cpu_seconds = r.cpu_accumulated_time;
            } else if (r.iterations > 0) {
                g.real_seconds = r.real_accumulated_time / static_cast<double>(r.iterations);
                g.cpu_seconds = r.cpu_accumulated_time / static_cast<double>(r.iterations);
            } else {
                g.real_seconds = r.real_accumulated_time;
                g.cpu_seconds = r.cpu_accumulated_time;
            }
            g.error = r.error_occurred ? 1 : 0;
            g.error_message = r.error_message.c_str();
            cb_(&g, user_);
        }
    }

    void Finalize() override { json_.Finalize(); }

    long n_runs() const { return n_runs_; }
    const std::string &first_error() const { return first_error_; }

  private:
    benchmark::JSONReporter json_;
    gb_result_cb cb_;
    void *user_;
    long n_runs_ = 0;
    std::string first_error_;
};

// Set the flags every case shares; re-parsing through Initialize is the
// library's public way to change them between runs.
void set_flags(const gb_case_opts *o)
{
    const char *exe = benchmark::BenchmarkReporter::Context::executable_name;
    if (!exe) exe = "claimbench";
    // 1.7.1 takes min_time as a plain double ("0.05", not "0.05s").
    char a1[64], a2[64], a3[64];
    std::snprintf(a1, sizeof a1, "--benchmark_min_time=%.9g", o->min_time);
    std::snprintf(a2, sizeof a2, "--benchmark_min_warmup_time=%.9g", o->min_warmup_time);
    std::snprintf(a3, sizeof a3, "--benchmark_repetitions=%d", o->repetitions);
    std::vector<char *> argv = {const_cast<char *>(exe), a1, a2, a3, nullptr};
    int argc = 4;
    benchmark::Initialize(&argc, argv.data());
}

// Flush an ofstream's file to disk: reopen it and fsync (an ofstream has no fd).
int fsync_path(const std::string &path)
{
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

}  // namespace

extern "C" {

int gb_initialize(int *argc, char **argv)
{
    try {
        // --benchmark_context is handled here, once: the library re-adds its
        // pairs on every Initialize (which gb_run_case calls per case) and
        // would warn about each duplicate.
        int kept = 0;
        for (int i = 0; i < *argc; i++) {
            const char *pre = "--benchmark_context=";
            if (i > 0 && std::strncmp(argv[i], pre, std::strlen(pre)) == 0) {
                std::string pairs = argv[i] + std::strlen(pre);
                size_t start = 0;
                while (start <= pairs.size()) {
                    size_t comma = pairs.find(',', start);
                    std::string kv = pairs.substr(start, comma == std::string::npos ? std::string::npos
                                                                                    : comma - start);
                    size_t eq = kv.find('=');
                    if (eq != std::string::npos)
                        gb_add_context(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str());
                    if (comma == std::string::npos) break;
                    start = comma + 1;
                }
                continue;
            }
            argv[kept++] = argv[i];
        }
        *argc = kept;
        benchmark::Initialize(argc, argv);
        return *argc > 0 ? *argc - 1 : 0;
    } catch (const std::exception &) {
        return -1;
    }
}

int gb_add_context(const char *key, const char *value)
{
    try {
        // AddCustomContext refuses an existing key; overwrite it instead, so
        // per-case context (task, parameters) can change between cases.
        std::map<std::string, std::string> *&ctx = benchmark::internal::GetGlobalContext();
        if (ctx && ctx->count(key)) {
            (*ctx)[key] = value;
            return 0;
        }
        benchmark::AddCustomContext(key, value);
        return 0;
    } catch (const std::exception &) {
        return -1;
    }
}

int gb_run_case(const char *name, gb_fn fn, void *ctx, const gb_case_opts *o,
                const char *json_path, gb_result_cb cb, void *user, char *err, size_t errlen)
{
    std::string tmp;
    try {
        if (!o || o->repetitions < 1 || !(o->min_time > 0) || !(o->min_warmup_time >= 0))
            return fail(err, errlen, "gb_run_case: bad options");
        tmp = std::string(json_path) + ".tmp." + std::to_string(static_cast<long>(getpid()));
        std::ofstream out(tmp, std::ios::out | std::ios::trunc);
        if (!out.is_open())
            return fail(err, errlen, tmp + ": cannot create: " + std::strerror(errno));

        set_flags(o);
        benchmark::ClearRegisteredBenchmarks();
        benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
            name, [fn, ctx](benchmark::State &st) { fn(reinterpret_cast<gb_state *>(&st), ctx); });
        b->UseRealTime();
        if (o->iterations > 0) b->Iterations(o->iterations);

        ForwardingReporter rep(&out, cb, user);
        size_t matched = benchmark::RunSpecifiedBenchmarks(&rep, ".");
        benchmark::ClearRegisteredBenchmarks();

        out.flush();
        bool io_ok = static_cast<bool>(out);
        out.close();
        if (!io_ok || out.fail()) {
            std::remove(tmp.c_str());
            return fail(err, errlen, tmp + ": write failed");
        }
        if (matched == 0 || rep.n_runs() == 0) {
            std::remove(tmp.c_str());
            return fail(err, errlen, std::string(name) + ": Google Benchmark ran nothing");
        }
        if (fsync_path(tmp) != 0 || std::rename(tmp.c_str(), json_path) != 0) {
            int e = errno;
            std::remove(tmp.c_str());
            return fail(err, errlen, std::string(json_path) + ": " + std::strerror(e));
        }
        if (!rep.first_error().empty()) {
            fail(err, errlen, rep.first_error());
            return 1;
        }
        return 0;
    } catch (const std::exception &e) {
        benchmark::ClearRegisteredBenchmarks();
        if (!tmp.empty()) std::remove(tmp.c_str());
        return fail(err, errlen, std::string("Google Benchmark: ") + e.what());
    }
}

void gb_shutdown(void)
{
    // benchmark::Shutdown() deletes the context map but leaves the pointer
    // dangling; reset it so a later gb_add_context starts a fresh map.
    std::map<std::string, std::string> *&ctx = benchmark::internal::GetGlobalContext();
    delete ctx;
    ctx = nullptr;
}

int gb_keep_running(gb_state *st) { return S(st).KeepRunning() ? 1 : 0; }
void gb_pause_timing(gb_state *st) { S(st).PauseTiming(); }
void gb_resume_timing(gb_state *st) { S(st).ResumeTiming(); }
int64_t gb_iterations_done(gb_state *st) { return static_cast<int64_t>(S(st).iterations()); }

void gb_set_counter(gb_state *st, const char *name, double value, int kind)
{
    benchmark::Counter::Flags f = benchmark::Counter::kDefaults;
    switch (kind) {
    case GB_COUNTER_RATE: f = benchmark::Counter::kIsRate; break;
    case GB_COUNTER_ITER_RATE: f = benchmark::Counter::kIsIterationInvariantRate; break;
    case GB_COUNTER_AVG_ITER: f = benchmark::Counter::kAvgIterations; break;
    default: break;
    }
    try {
        S(st).counters[name] = benchmark::Counter(value, f, benchmark::Counter::kIs1000);
    } catch (const std::exception &) {
        // A counter that cannot be stored (out of memory) is dropped.
    }
}

void gb_set_label(gb_state *st, const char *label)
{
    try {
        S(st).SetLabel(label);
    } catch (const std::exception &) {
    }
}

void gb_skip_with_error(gb_state *st, const char *msg) { S(st).SkipWithError(msg); }
void gb_do_not_optimize(void *p) { benchmark::DoNotOptimize(p); }
void gb_clobber_memory(void) { benchmark::ClobberMemory(); }

}  // extern "C"

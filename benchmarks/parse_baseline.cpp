// Parse-only baseline for the C-host benchmark: simdjson's DOM parse (the same simdjson as the
// plugin, from the pysimdjson wheel) of every payload of a JSON Lines file, timed like the host:
// the whole run, and per run of CHUNK consecutive payloads the fastest of the iterations (their
// sum, best_pass_seconds, is one pass that the machine's other processes did not disturb).
//   parse_baseline EVENTS.jsonl ITERATIONS
//     ->  {"events":N,"seconds":S,"best_pass_seconds":B,"ns_per_event":X}
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>
#include "simdjson.h"

static const size_t CHUNK = 32;  // the same as falco_host.c's BENCH_CHUNK

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: parse_baseline EVENTS.jsonl ITERATIONS\n");
        return 64;
    }
    std::ifstream in(argv[1]);
    std::vector<simdjson::padded_string> docs;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) docs.emplace_back(line);
    long iterations = std::atol(argv[2]);
    if (docs.empty() || iterations < 1) {
        std::fprintf(stderr, "parse_baseline: no payloads in %s or ITERATIONS < 1\n", argv[1]);
        return 64;
    }
    using clock = std::chrono::steady_clock;
    simdjson::dom::parser parser;
    size_t ok = 0, events = 0;
    std::vector<double> best((docs.size() + CHUNK - 1) / CHUNK, 1e30);
    auto t0 = clock::now();
    for (long r = 0; r < iterations; r++)
        for (size_t c = 0; c * CHUNK < docs.size(); c++) {
            auto tc = clock::now();
            size_t end = std::min(docs.size(), (c + 1) * CHUNK);
            for (size_t i = c * CHUNK; i < end; i++) {
                simdjson::dom::element e;
                ok += parser.parse(docs[i]).get(e) == simdjson::SUCCESS;
                events++;
            }
            best[c] = std::min(best[c], std::chrono::duration<double>(clock::now() - tc).count());
        }
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    if (ok != events) {
        std::fprintf(stderr, "parse_baseline: %zu of %zu payloads failed to parse\n", events - ok, events);
        return 1;
    }
    double best_pass = 0;
    for (double b : best) best_pass += b;
    std::printf("{\"events\":%zu,\"seconds\":%.9f,\"best_pass_seconds\":%.9f,\"ns_per_event\":%.3f}\n",
                events, secs, best_pass, secs * 1e9 / (double)events);
    return 0;
}

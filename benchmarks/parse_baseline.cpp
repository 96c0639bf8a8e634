// Parse-only baseline for the C-host benchmark: simdjson's DOM parse (the same simdjson as the
// plugin, from the pysimdjson wheel) of every payload of a JSON Lines file, timed like the host.
//   parse_baseline EVENTS.jsonl ITERATIONS  ->  {"events":N,"seconds":S,"ns_per_event":X}
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
#include "simdjson.h"

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
    simdjson::dom::parser parser;
    size_t ok = 0, events = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (long r = 0; r < iterations; r++)
        for (auto& d : docs) {
            simdjson::dom::element e;
            ok += parser.parse(d).get(e) == simdjson::SUCCESS;
            events++;
        }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (ok != events) {
        std::fprintf(stderr, "parse_baseline: %zu of %zu payloads failed to parse\n", events - ok, events);
        return 1;
    }
    std::printf("{\"events\":%zu,\"seconds\":%.9f,\"ns_per_event\":%.3f}\n", events, secs,
                secs * 1e9 / (double)events);
    return 0;
}

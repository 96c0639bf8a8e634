"""Test and benchmark hooks into the compiled plugin (module `k8saudit_ovh_testing.hooks`).

Built with the package but never shipped in the plugin artifact: nothing here runs in Falco.
Tests, benchmarks and fuzzers drive the C internals of `k8saudit_ovh` through it.
"""

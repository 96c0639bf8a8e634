"""Release tooling for k8saudit-ovh: the falcoctl artifact builder and the OCI client that pushes
and pulls it. Never shipped in the plugin artifact."""

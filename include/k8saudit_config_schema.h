/* k8saudit-ovh: the init-config JSON schema returned by plugin_get_init_schema. Falco validates
 * init_config against it before plugin_init; src/k8saudit_ovh/config.py applies the same rules
 * (tests/test_config.py keeps the two in step). The k8saudit keys are accepted for drop-in use. */
#ifndef K8SAUDIT_OVH_CONFIG_SCHEMA_H
#define K8SAUDIT_OVH_CONFIG_SCHEMA_H

static const char K8S_INIT_SCHEMA[] =
"{\"$schema\":\"http://json-schema.org/draft-04/schema#\","
"\"title\":\"k8saudit-ovh init config\",\"type\":\"object\",\"additionalProperties\":true,"
"\"properties\":{"
"\"maxEventSize\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":67108864,"
"\"description\":\"Maximum size in bytes of one audit event (compact JSON); larger events are dropped and counted (default 262144)\"},"
"\"webhookMaxBatchSize\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1073741824,"
"\"description\":\"Maximum size in bytes of one line or message that may hold an EventList (default 12582912)\"},"
"\"useAsync\":{\"type\":\"boolean\",\"description\":\"Accepted for compatibility with k8saudit; extraction never blocks here\"},"
"\"sslCertificate\":{\"type\":\"string\",\"description\":\"Accepted for compatibility with k8saudit (webhook TLS); unused\"}"
"}}";

#endif

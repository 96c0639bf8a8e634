/* k8saudit-ovh: the init-config JSON schema returned by plugin_get_init_schema.
 * Generated from src/k8saudit_ovh/config.py (TABLE) by scripts/gen-config-schema.py:
 * do not edit; tests/abi/test_config_table.py fails when it is out of date. */
#ifndef K8SAUDIT_OVH_CONFIG_SCHEMA_H
#define K8SAUDIT_OVH_CONFIG_SCHEMA_H

static const char K8S_INIT_SCHEMA[] =
"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"title\":\"k8saudit-ovh init config\",\"type\":\"object\",\"additionalProperties\":true,\"properties\":{"
"\"maxEventSize\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":67108864,\"description\":\"Maximum size in bytes of one audit event (compact JSON); larger events are dropped and counted (default 262144)\"},"
"\"webhookMaxBatchSize\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1073741824,\"description\":\"Maximum size in bytes of one line or message that may hold an EventList (default 12582912)\"},"
"\"useAsync\":{\"type\":\"boolean\",\"description\":\"Accepted for compatibility with k8saudit; extraction never blocks here (default true)\"},"
"\"sslCertificate\":{\"type\":\"string\",\"description\":\"Accepted for compatibility with k8saudit (webhook TLS); unused (default '/etc/falco/falco.pem')\"},"
"\"ldpPingInterval\":{\"type\":\"number\",\"minimum\":0.05,\"maximum\":3600,\"description\":\"LDP live tail: seconds without any frame before a WebSocket ping is sent (default 20)\"},"
"\"ldpPingTimeout\":{\"type\":\"number\",\"minimum\":0.05,\"maximum\":3600,\"description\":\"LDP live tail: seconds to wait for the pong (or any frame) before the connection is declared dead and re-opened (default 20)\"},"
"\"ldpConnectTimeout\":{\"type\":\"number\",\"minimum\":0.1,\"maximum\":600,\"description\":\"LDP live tail: seconds allowed for TCP connect, proxy, TLS and WebSocket handshakes (default 15)\"},"
"\"ldpMinBackoff\":{\"type\":\"number\",\"minimum\":0.01,\"maximum\":3600,\"description\":\"LDP live tail: first reconnect delay in seconds, doubled at each failure, with jitter (default 1)\"},"
"\"ldpMaxBackoff\":{\"type\":\"number\",\"minimum\":0.01,\"maximum\":3600,\"description\":\"LDP live tail: longest reconnect delay in seconds (default 60)\"},"
"\"ldpReplayOnReconnect\":{\"type\":\"boolean\",\"description\":\"LDP live tail: after a reconnect, replay the missed window with LDP's begin/end parameters and drop duplicates by auditID and stage (false: the seconds around each reconnect are lost) (default true)\"},"
"\"ldpReplayMaxWindow\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":604800,\"description\":\"LDP live tail: longest gap in seconds that a replay covers (the most recent part is replayed) (default 3600)\"},"
"\"ldpReplayMargin\":{\"type\":\"number\",\"minimum\":1,\"maximum\":3600,\"description\":\"LDP live tail: how far (seconds) events may come out of order in LDP's clock (frame timestamp); replays after a reconnect or a restart start this much earlier, so late events are never lost (default 60)\"},"
"\"ldpReplayIdleTimeout\":{\"type\":\"number\",\"minimum\":0.1,\"maximum\":3600,\"description\":\"LDP live tail: a replay is complete when the server closes it or sends nothing for this many seconds (default 10)\"},"
"\"ldpDedupeCapacity\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":4194304,\"description\":\"LDP live tail: number of recent events per stream remembered for duplicate detection when replay is on (16 bytes each, x2) (default 65536)\"},"
"\"ldpCAFile\":{\"type\":\"string\",\"description\":\"LDP live tail: PEM file of the CA(s) that sign the server certificate, instead of the system CAs. TLS is always verified (default empty)\"},"
"\"ldpStatsInterval\":{\"type\":\"number\",\"minimum\":0,\"maximum\":86400,\"description\":\"LDP live tail: seconds between two statistics log lines, 0 for none (default 60)\"},"
"\"ldpStateDir\":{\"type\":\"string\",\"description\":\"LDP live tail: folder where each stream's resume state is kept (what Falco has finished, in LDP's clock), so that after a restart the missed window is replayed without losing or repeating events (empty: no resume) (default empty)\"},"
"\"ldpStateInterval\":{\"type\":\"number\",\"minimum\":0.05,\"maximum\":3600,\"description\":\"LDP live tail: seconds between two fsyncs of the resume state (every finished batch reaches it at once; it is also written at close) (default 2)\"},"
"\"ldpWindowChunk\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":604800,\"description\":\"LDP past window (an address with begin= and end=): seconds of LDP's clock fetched per request (default 3600)\"}"
"}}";

#endif

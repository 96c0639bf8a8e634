# The field table (included by _extract.pyx): the one place that says what each field reads.
# TABLE[field_id] holds the field's handler (_extract_handlers.pxi) and its parameters; rows are
# keyed by field name (include/k8saudit_fields.h gives the ids), so a new field is one row here
# and a missing or misspelled row fails the import.

cdef struct frow

ctypedef int (*handler_t)(extractor* x, const frow* r, const ss_plugin_extract_field* f,
                          uint64_t idx) noexcept nogil

cdef struct frow:
    handler_t fn
    kpath p1            # main path (from the event root unless the handler says otherwise)
    kpath p2            # second path (handler specific)
    const char* s       # constant (subject kind, securityContext key, the key h_members leaves out)
    uint32_t sl
    int flag            # handler specific (each handler's docstring says what it means)

cdef frow TABLE[K8S_NUM_FIELDS]


cdef int _field_id(const char* name) except -1:
    """The id of field `name` in include/k8saudit_fields.h (the one list of fields)."""
    cdef int i
    for i in range(K8S_NUM_FIELDS):
        if strcmp(K8S_FIELDS[i].name, name) == 0:
            return i
    raise ImportError("k8saudit_ovh._extract: a table row names %r, which is not a field" % name)


cdef int _row(const char* name, handler_t fn, const char* p1, const char* p2=NULL, const char* s=NULL,
              int flag=0) except -1:
    """The semantics of field `name`: its handler and the handler's parameters."""
    cdef frow* r = &TABLE[_field_id(name)]
    if r.fn != NULL:
        raise ImportError("k8saudit_ovh._extract: two table rows for %r" % name)
    r.fn = fn
    _path(&r.p1, p1)
    _path(&r.p2, p2)
    r.s = s
    r.sl = <uint32_t>(strlen(s) if s != NULL else 0)
    r.flag = flag
    return 0


# Paths and names built at import (the container rows below): interned keys point into them,
# so they stay referenced for the life of the module.
cdef list _ROW_TEXT = []


cdef const char* _keep(str text) except NULL:
    cdef bytes b = text.encode()
    _ROW_TEXT.append(b)
    return b


cdef int _container_rows(str kind) except -1:
    """The fields each container list of a pod spec has (containers, initContainers,
    ephemeralContainers): the same semantics under requestObject.spec.<kind>."""
    field = "ka.req.pod." + kind + "."
    lst = "requestObject|spec|" + kind
    _row(_keep(field + "name"), h_strings, _keep(lst + "|name"))
    _row(_keep(field + "image"), h_strings, _keep(lst + "|image"))
    _row(_keep(field + "image.repository"), h_strings, _keep(lst + "|image"), NULL, NULL, 1)
    _row(_keep(field + "command"), h_join, _keep(lst + "|command"))
    _row(_keep(field + "args"), h_join, _keep(lst + "|args"))
    for name, key in (("privileged", "privileged"), ("allow_privilege_escalation", "allowPrivilegeEscalation"),
                      ("read_only_fs", "readOnlyRootFilesystem"), ("run_as_user", "runAsUser"),
                      ("run_as_group", "runAsGroup"), ("proc_mount", "procMount"),
                      ("add_capabilities", "capabilities|add")):
        _row(_keep(field + name), h_fanout, _keep(lst + "|securityContext|" + key))
    # fixed on purpose: the container's securityContext, else the pod's, else 0
    _row(_keep(field + "eff_run_as_user"), h_eff_run_as, _keep(lst),
         b"requestObject|spec|securityContext|runAsUser", b"runAsUser")
    _row(_keep(field + "eff_run_as_group"), h_eff_run_as, _keep(lst),
         b"requestObject|spec|securityContext|runAsGroup", b"runAsGroup")
    return 0


cdef int _build_table() except -1:
    memset(TABLE, 0, sizeof(TABLE))
    _row(b"ka.auditid", h_text, b"auditID")
    _row(b"ka.stage", h_text, b"stage")
    _row(b"ka.auth.decision", h_text, b"annotations|authorization.k8s.io/decision")
    _row(b"ka.auth.reason", h_text, b"annotations|authorization.k8s.io/reason")
    _row(b"ka.auth.openshift.decision", h_text, b"annotations|authentication.openshift.io/decision")
    _row(b"ka.validations.admission.policy.failure", h_text,
         b"annotations|validation.policy.admission.k8s.io/validation_failure")
    _row(b"ka.security.pod.violations", h_text, b"annotations|pod-security.kubernetes.io/audit-violations")
    _row(b"ka.auth.openshift.username", h_text, b"annotations|authentication.openshift.io/username")
    _row(b"ka.user.name", h_text, b"user|username")
    _row(b"ka.user.groups", h_list, b"user|groups")
    _row(b"ka.impuser.name", h_text, b"impersonatedUser|username")
    _row(b"ka.verb", h_text, b"verb")
    _row(b"ka.uri", h_text, b"requestURI")
    _row(b"ka.uri.param", h_uri_param, b"requestURI")
    _row(b"ka.target.name", h_text, b"objectRef|name")
    _row(b"ka.target.namespace", h_text, b"objectRef|namespace")
    _row(b"ka.target.resource", h_text, b"objectRef|resource")
    _row(b"ka.target.subresource", h_text, b"objectRef|subresource")
    _row(b"ka.target.pod.name", h_pod_name, b"objectRef", b"responseObject|metadata|name")
    _row(b"ka.req.binding.subjects", h_list, b"requestObject|subjects")
    _row(b"ka.req.binding.subjects.user_names", h_subject_names, b"requestObject|subjects", NULL, b"User")
    _row(b"ka.req.binding.subjects.serviceaccount_names", h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount")
    _row(b"ka.req.binding.subjects.serviceaccount_ns_names", h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount", 1)
    _row(b"ka.req.binding.subjects.group_names", h_subject_names, b"requestObject|subjects", NULL, b"Group")
    _row(b"ka.req.binding.role", h_text, b"requestObject|roleRef|name")
    _row(b"ka.req.binding.subject.has_name", h_true, NULL)
    _row(b"ka.req.configmap.name", h_text, b"objectRef|name")
    _row(b"ka.req.configmap.obj", h_text, b"requestObject|data")
    _row(b"ka.req.container.image", h_strings, b"requestObject|spec|containers|image", NULL, NULL, 2)
    _row(b"ka.req.container.image.repository", h_strings, b"requestObject|spec|containers|image", NULL,
         NULL, 3)
    _row(b"ka.req.pod.host_ipc", h_text, b"requestObject|spec|hostIPC")
    _row(b"ka.req.pod.host_network", h_text, b"requestObject|spec|hostNetwork")
    _row(b"ka.req.container.host_network", h_text, b"requestObject|spec|hostNetwork")
    _row(b"ka.req.pod.host_pid", h_text, b"requestObject|spec|hostPID")
    _row(b"ka.req.pod.containers.host_port", h_host_port, b"requestObject|spec|containers|ports")
    _row(b"ka.req.container.privileged", h_any_true,
         b"requestObject|spec|containers|securityContext|privileged")
    _row(b"ka.req.pod.run_as_user", h_text, b"requestObject|spec|securityContext|runAsUser")
    _row(b"ka.req.pod.run_as_group", h_text, b"requestObject|spec|securityContext|runAsGroup")
    _row(b"ka.req.role.rules", h_list, b"requestObject|rules")
    _row(b"ka.req.role.rules.apiGroups", h_members, b"requestObject|rules|apiGroups", NULL, NULL, J_ARR)
    _row(b"ka.req.role.rules.nonResourceURLs", h_members, b"requestObject|rules|nonResourceURLs", NULL, NULL,
         J_ARR)
    _row(b"ka.req.role.rules.verbs", h_members, b"requestObject|rules|verbs", NULL, NULL, J_ARR)
    _row(b"ka.req.role.rules.resources", h_members, b"requestObject|rules|resources", NULL, NULL, J_ARR)
    _row(b"ka.req.pod.fs_group", h_text, b"requestObject|spec|securityContext|fsGroup")
    _row(b"ka.req.pod.supplemental_groups", h_list, b"requestObject|spec|securityContext|supplementalGroups")
    _row(b"ka.req.service.type", h_text, b"requestObject|spec|type")
    _row(b"ka.req.service.ports", h_fanout, b"requestObject|spec|ports")
    _row(b"ka.req.pod.volumes.hostpath", h_fanout, b"requestObject|spec|volumes|hostPath|path")
    _row(b"ka.req.volume.hostpath", h_path_match, b"requestObject|spec|volumes|hostPath|path")
    _row(b"ka.req.pod.volumes.flexvolume_driver", h_fanout, b"requestObject|spec|volumes|flexVolume|driver")
    _row(b"ka.req.pod.volumes.volume_type", h_members, b"requestObject|spec|volumes|", NULL, b"name", J_OBJ)
    _row(b"ka.resp.name", h_text, b"responseObject|metadata|name")
    _row(b"ka.response.code", h_text, b"responseStatus|code")
    _row(b"ka.response.reason", h_text, b"responseStatus|reason")
    _row(b"ka.useragent", h_text, b"userAgent")
    _row(b"ka.sourceips", h_list, b"sourceIPs", NULL, NULL, 1)
    _row(b"ka.cluster.name", h_text, b"annotations|cluster_name")
    _row(b"ka.req.pod.initContainers.host_port", h_host_port, b"requestObject|spec|initContainers|ports")
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        _container_rows(kind)
    return 0

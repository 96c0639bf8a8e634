# Thin declarations of include/falco_plugin_abi.h (our header of the Falco plugin ABI, API 3.0.0).
from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef extern from "falco_plugin_abi.h" nogil:
    ctypedef uint32_t ss_plugin_bool
    ctypedef void ss_plugin_t
    ctypedef void ss_instance_t
    ctypedef void ss_plugin_owner_t

    ctypedef enum ss_plugin_rc:
        SS_PLUGIN_SUCCESS
        SS_PLUGIN_FAILURE
        SS_PLUGIN_TIMEOUT
        SS_PLUGIN_EOF
        SS_PLUGIN_NOT_SUPPORTED

    ctypedef enum ss_plugin_metric_type:
        SS_PLUGIN_METRIC_TYPE_MONOTONIC
        SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC

    ctypedef enum ss_plugin_metric_value_type:
        SS_PLUGIN_METRIC_VALUE_TYPE_U64

    ctypedef struct ss_plugin_event:
        uint64_t ts
        uint64_t tid
        uint32_t len
        uint16_t type
        uint32_t nparams

    ctypedef struct ss_plugin_event_input:
        const ss_plugin_event* evt
        uint64_t evtnum
        const char* evtsrc

    ctypedef union ss_plugin_extract_result:
        const char** str
        uint64_t* u64

    ctypedef struct ss_plugin_extract_field:
        ss_plugin_extract_result res
        uint64_t res_len
        uint32_t field_id
        const char* field
        const char* arg_key
        uint64_t arg_index
        ss_plugin_bool arg_present
        uint32_t ftype
        ss_plugin_bool flist

    ctypedef struct ss_plugin_field_extract_input:
        uint32_t num_fields
        ss_plugin_extract_field* fields

    ctypedef struct ss_plugin_init_input:
        const char* config

    ctypedef union ss_plugin_metric_value:
        uint64_t u64

    ctypedef struct ss_plugin_metric:
        const char* name
        ss_plugin_metric_type type
        ss_plugin_metric_value value
        ss_plugin_metric_value_type value_type

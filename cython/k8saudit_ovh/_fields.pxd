# Thin declarations of include/k8saudit_fields.h: the field identity table (index = field_id).
from libc.stdint cimport uint8_t

cdef extern from "k8saudit_fields.h" nogil:
    ctypedef struct k8s_field_def:
        const char* name
        uint8_t is_list
        uint8_t is_index
        uint8_t is_key
        uint8_t is_required
        const char* desc
    enum: K8S_NUM_FIELDS       # a compile-time constant (sizeof of the table)
    cdef const k8s_field_def K8S_FIELDS[]

/* registry.c — every kernel, implementation and probe claimbench knows.
 *
 * Adding a backend for a kernel is one file under impls/<backend>/ and one
 * line in cb_impls below; adding a kernel is its contract (in its ref file)
 * and one line in cb_kernels.
 */
#include "kernel.h"

#include <string.h>

/* Kernel contracts (defined beside their ref implementation). */
extern const cb_kernel cb_kernel_softmax_attention, cb_kernel_linear_attention,
    cb_kernel_linear_decode, cb_kernel_softmax_decode, cb_kernel_softmax_decode_nocache;

/* Implementations: cb_impl_<backend>_<kernel>. */
extern const cb_impl cb_impl_ref_softmax_attention, cb_impl_blas_softmax_attention,
    cb_impl_dnnl_softmax_attention;
extern const cb_impl cb_impl_ref_linear_attention, cb_impl_blas_linear_attention,
    cb_impl_dnnl_linear_attention;
extern const cb_impl cb_impl_ref_linear_decode, cb_impl_blas_linear_decode,
    cb_impl_dnnl_linear_decode;
extern const cb_impl cb_impl_ref_softmax_decode, cb_impl_blas_softmax_decode,
    cb_impl_dnnl_softmax_decode;
extern const cb_impl cb_impl_ref_softmax_decode_nocache, cb_impl_blas_softmax_decode_nocache,
    cb_impl_dnnl_softmax_decode_nocache;

/* Test-only (impls/testing/): its faulty backend crashes or hangs on purpose. */
extern const cb_kernel cb_kernel_selftest_fault;
extern const cb_impl cb_impl_ref_selftest_fault, cb_impl_faulty_selftest_fault;

/* Efficient attention: Performer, Sparse Transformer, XCiT, AFT, Galerkin. */
extern const cb_kernel cb_kernel_favor_attention, cb_kernel_sparse_attention, cb_kernel_xca,
    cb_kernel_aft_simple, cb_kernel_aft_full, cb_kernel_galerkin_attention,
    cb_kernel_fourier_attention;
extern const cb_impl cb_impl_ref_favor_attention, cb_impl_blas_favor_attention,
    cb_impl_dnnl_favor_attention;
extern const cb_impl cb_impl_ref_sparse_attention, cb_impl_blas_sparse_attention,
    cb_impl_dnnl_sparse_attention;
extern const cb_impl cb_impl_ref_xca, cb_impl_blas_xca, cb_impl_dnnl_xca;
extern const cb_impl cb_impl_ref_aft_simple, cb_impl_blas_aft_simple, cb_impl_dnnl_aft_simple;
extern const cb_impl cb_impl_ref_aft_full, cb_impl_blas_aft_full, cb_impl_dnnl_aft_full;
extern const cb_impl cb_impl_ref_galerkin_attention, cb_impl_blas_galerkin_attention,
    cb_impl_dnnl_galerkin_attention;
extern const cb_impl cb_impl_ref_fourier_attention, cb_impl_blas_fourier_attention,
    cb_impl_dnnl_fourier_attention;

/* piecewise_affine_mult: the float32 GEMM baseline and the piecewise-affine GEMM. */
extern const cb_kernel cb_kernel_matmul, cb_kernel_pam_matmul;
extern const cb_impl cb_impl_ref_matmul, cb_impl_blas_matmul, cb_impl_dnnl_matmul;
extern const cb_impl cb_impl_ref_pam_matmul, cb_impl_avx512_pam_matmul;
extern const cb_probe cb_probe_pam_error;

/* lsa_gd_equivalence, lsa_newton_construction: linear self-attention as GD and as Newton. */
extern const cb_kernel cb_kernel_lsa_layer;
extern const cb_impl cb_impl_ref_lsa_layer, cb_impl_blas_lsa_layer, cb_impl_dnnl_lsa_layer;
extern const cb_probe cb_probe_lsa_gd, cb_probe_lsa_newton;

/* attention_rank_collapse: the residual of deep pure-attention stacks (a probe only). */
extern const cb_probe cb_probe_rank_collapse;

/* deltanet_chunkwise: the delta rule, recurrent (ref, scan) and chunkwise (blas, dnnl). */
extern const cb_kernel cb_kernel_delta_rule;
extern const cb_impl cb_impl_ref_delta_rule, cb_impl_scan_delta_rule, cb_impl_blas_delta_rule,
    cb_impl_dnnl_delta_rule;
extern const cb_probe cb_probe_delta_forms;

/* vit_conv_construction: conv2d and the multi-head attention that performs it. */
extern const cb_kernel cb_kernel_conv2d, cb_kernel_mhsa_conv;
extern const cb_impl cb_impl_ref_conv2d, cb_impl_blas_conv2d, cb_impl_dnnl_conv2d;
extern const cb_impl cb_impl_ref_mhsa_conv, cb_impl_blas_mhsa_conv, cb_impl_dnnl_mhsa_conv;
extern const cb_probe cb_probe_conv_construction;

/* int4_hadamard_quant_gemm: Hadamard rotation, INT4 quantizer, INT4 GEMM. */
extern const cb_kernel cb_kernel_hadamard, cb_kernel_quant_int4, cb_kernel_int4_gemm;
extern const cb_impl cb_impl_ref_hadamard, cb_impl_blas_hadamard, cb_impl_fwht_hadamard;
extern const cb_impl cb_impl_ref_quant_int4, cb_impl_fwht_quant_int4;
extern const cb_impl cb_impl_ref_int4_gemm, cb_impl_blas_int4_gemm, cb_impl_dnnl_int4_gemm;
extern const cb_probe cb_probe_int4_quant_error;

/* hyena_fft_conv: Hyena's causal long convolution and order-2 operator. */
extern const cb_kernel cb_kernel_long_conv, cb_kernel_hyena_operator;
extern const cb_impl cb_impl_ref_long_conv, cb_impl_fftw_long_conv, cb_impl_dnnl_long_conv;
extern const cb_impl cb_impl_ref_hyena_operator, cb_impl_fftw_hyena_operator;
extern const cb_probe cb_probe_hyena_conv_forms;

/* fno_discretization_invariance: the FNO Fourier layer and its dense kernel-integral form. */
extern const cb_kernel cb_kernel_spectral_conv1d, cb_kernel_kernel_integral1d;
extern const cb_impl cb_impl_ref_spectral_conv1d, cb_impl_fftw_spectral_conv1d;
extern const cb_impl cb_impl_ref_kernel_integral1d, cb_impl_blas_kernel_integral1d;
extern const cb_probe cb_probe_fno_invariance;

/* Probes. */
extern const cb_probe cb_probe_causal_forms, cb_probe_favor_estimators,
    cb_probe_sparse_reachability, cb_probe_xca_memory, cb_probe_aft_forms, cb_probe_aft_memory,
    cb_probe_galerkin_orders;

const cb_kernel *const cb_kernels[] = {
    &cb_kernel_softmax_attention,
    &cb_kernel_linear_attention,
    &cb_kernel_linear_decode,
    &cb_kernel_softmax_decode,
    &cb_kernel_softmax_decode_nocache,
    &cb_kernel_favor_attention,
    &cb_kernel_sparse_attention,
    &cb_kernel_xca,
    &cb_kernel_aft_simple,
    &cb_kernel_aft_full,
    &cb_kernel_galerkin_attention,
    &cb_kernel_fourier_attention,
    /* piecewise_affine_mult */
    &cb_kernel_matmul,
    &cb_kernel_pam_matmul,
    /* lsa_gd_equivalence */
    &cb_kernel_lsa_layer,
    /* deltanet_chunkwise */
    &cb_kernel_delta_rule,
    /* vit_conv_construction */
    &cb_kernel_conv2d,
    &cb_kernel_mhsa_conv,
    /* int4_hadamard_quant_gemm */
    &cb_kernel_hadamard,
    &cb_kernel_quant_int4,
    &cb_kernel_int4_gemm,
    /* hyena_fft_conv */
    &cb_kernel_long_conv,
    &cb_kernel_hyena_operator,
    /* fno_discretization_invariance */
    &cb_kernel_spectral_conv1d,
    &cb_kernel_kernel_integral1d,
    &cb_kernel_selftest_fault,
    NULL,
};

const cb_impl *const cb_impls[] = {
    &cb_impl_ref_softmax_attention, &cb_impl_blas_softmax_attention, &cb_impl_dnnl_softmax_attention,
    &cb_impl_ref_linear_attention, &cb_impl_blas_linear_attention, &cb_impl_dnnl_linear_attention,
    &cb_impl_ref_linear_decode, &cb_impl_blas_linear_decode, &cb_impl_dnnl_linear_decode,
    &cb_impl_ref_softmax_decode, &cb_impl_blas_softmax_decode, &cb_impl_dnnl_softmax_decode,
    &cb_impl_ref_softmax_decode_nocache, &cb_impl_blas_softmax_decode_nocache,
    &cb_impl_dnnl_softmax_decode_nocache,
    &cb_impl_ref_favor_attention, &cb_impl_blas_favor_attention, &cb_impl_dnnl_favor_attention,
    &cb_impl_ref_sparse_attention, &cb_impl_blas_sparse_attention, &cb_impl_dnnl_sparse_attention,
    &cb_impl_ref_xca, &cb_impl_blas_xca, &cb_impl_dnnl_xca,
    &cb_impl_ref_aft_simple, &cb_impl_blas_aft_simple, &cb_impl_dnnl_aft_simple,
    &cb_impl_ref_aft_full, &cb_impl_blas_aft_full, &cb_impl_dnnl_aft_full,
    &cb_impl_ref_galerkin_attention, &cb_impl_blas_galerkin_attention,
    &cb_impl_dnnl_galerkin_attention,
    &cb_impl_ref_fourier_attention, &cb_impl_blas_fourier_attention,
    &cb_impl_dnnl_fourier_attention,
    /* piecewise_affine_mult */
    &cb_impl_ref_matmul, &cb_impl_blas_matmul, &cb_impl_dnnl_matmul,
    &cb_impl_ref_pam_matmul, &cb_impl_avx512_pam_matmul,
    /* lsa_gd_equivalence */
    &cb_impl_ref_lsa_layer, &cb_impl_blas_lsa_layer, &cb_impl_dnnl_lsa_layer,
    /* deltanet_chunkwise */
    &cb_impl_ref_delta_rule, &cb_impl_scan_delta_rule, &cb_impl_blas_delta_rule,
    &cb_impl_dnnl_delta_rule,
    /* vit_conv_construction */
    &cb_impl_ref_conv2d, &cb_impl_blas_conv2d, &cb_impl_dnnl_conv2d,
    &cb_impl_ref_mhsa_conv, &cb_impl_blas_mhsa_conv, &cb_impl_dnnl_mhsa_conv,
    /* int4_hadamard_quant_gemm */
    &cb_impl_ref_hadamard, &cb_impl_blas_hadamard, &cb_impl_fwht_hadamard,
    &cb_impl_ref_quant_int4, &cb_impl_fwht_quant_int4,
    &cb_impl_ref_int4_gemm, &cb_impl_blas_int4_gemm, &cb_impl_dnnl_int4_gemm,
    /* hyena_fft_conv */
    &cb_impl_ref_long_conv, &cb_impl_fftw_long_conv, &cb_impl_dnnl_long_conv,
    &cb_impl_ref_hyena_operator, &cb_impl_fftw_hyena_operator,
    /* fno_discretization_invariance */
    &cb_impl_ref_spectral_conv1d, &cb_impl_fftw_spectral_conv1d,
    &cb_impl_ref_kernel_integral1d, &cb_impl_blas_kernel_integral1d,
    &cb_impl_ref_selftest_fault, &cb_impl_faulty_selftest_fault,
    NULL,
};

const cb_probe *const cb_probes[] = {
    &cb_probe_causal_forms,
    &cb_probe_favor_estimators,
    &cb_probe_sparse_reachability,
    &cb_probe_xca_memory,
    &cb_probe_aft_forms,
    &cb_probe_aft_memory,
    &cb_probe_galerkin_orders,
    &cb_probe_pam_error,  /* piecewise_affine_mult */
    &cb_probe_lsa_gd,  /* lsa_gd_equivalence */
    &cb_probe_lsa_newton,  /* lsa_gd_equivalence */
    &cb_probe_rank_collapse,  /* attention_rank_collapse */
    &cb_probe_delta_forms,  /* deltanet_chunkwise */
    &cb_probe_conv_construction,  /* vit_conv_construction */
    &cb_probe_int4_quant_error,  /* int4_hadamard_quant_gemm */
    &cb_probe_hyena_conv_forms,  /* hyena_fft_conv */
    &cb_probe_fno_invariance,  /* fno_discretization_invariance */
    NULL,
};

const cb_kernel *cb_kernel_find(const char *name)
{
    for (int i = 0; cb_kernels[i]; i++)
        if (strcmp(cb_kernels[i]->name, name) == 0)
            return cb_kernels[i];
    return NULL;
}

const cb_impl *cb_impl_find(const char *kernel, const char *backend)
{
    for (int i = 0; cb_impls[i]; i++)
        if (strcmp(cb_impls[i]->kernel, kernel) == 0 && strcmp(cb_impls[i]->backend, backend) == 0)
            return cb_impls[i];
    return NULL;
}

const cb_probe *cb_probe_find(const char *name)
{
    for (int i = 0; cb_probes[i]; i++)
        if (strcmp(cb_probes[i]->name, name) == 0)
            return cb_probes[i];
    return NULL;
}

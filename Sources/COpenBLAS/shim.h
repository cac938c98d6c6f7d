#include <cblas.h>

/* LAPACK routines shipped inside OpenBLAS (Fortran calling convention). */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);

import COpenBLAS
import Foundation

/// The only file that calls BLAS. Row-major single- and double-precision products and the
/// OpenBLAS runtime facts the CLI reports.
public enum BLAS {
    /// OpenBLAS build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }
    /// The kernel family OpenBLAS picked for this CPU (OPENBLAS_CORETYPE overrides it).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}

// MARK: Double precision (linear probe, kernels)
extension BLAS {
    /// Row-major C = alpha · op(A) · op(B) + beta · C with op(A) (m, k), op(B) (k, n), C (m, n).
    /// `transposeA`: A is stored (k, m) with leading dimension lda; likewise for B.
    public static func dgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Double = 1,
                             _ a: UnsafePointer<Double>, lda: Int,
                             _ b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, _ c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }
}

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

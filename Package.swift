// swift-tools-version:6.0
// lpft-mpi: LP, FT, LP-FT, LoRA and LP-LoRA fine-tuning with MPI data parallelism and a
// distributed empirical NTK. Layout and dependency direction: ../shared/design/ARCHITECTURE.md
//   lpft-mpi (CLI) → Distributed → Model;  Distributed → MPIShim → CMPI (<mpi.h>)
import PackageDescription

// Release builds drop overflow/bounds checks in the numeric loops; debug builds keep them.
// On x86-64 they target AVX2 + FMA (Haswell / AMD Zen and newer): the elementwise loops (softmax,
// GELU, LayerNorm, dropout, AdamW) run 8 lanes where the x86-64 baseline gives 4; results are
// bit-identical (Swift does not fuse a·b + c into an FMA). Sources/MPIShim/cpucheck.c stops with
// a message on an older CPU; LPFT_TARGET_CPU=x86-64 builds for one.
#if arch(x86_64)
let targetCPU = Context.environment["LPFT_TARGET_CPU"] ?? "haswell"
#else
let targetCPU = ""  // other architectures: the compiler's default
#endif
let cpuFlags = targetCPU.isEmpty ? [] : ["-target-cpu", targetCPU]
// -fno-math-errno: Swift's squareRoot() goes through a C inline of __builtin_sqrtf, which with
// errno semantics is a scalar sqrt plus a libm call for negative inputs, lane by lane even on
// SIMD8 (AdamW's update ran eight scalar square roots per vector); without errno it is one
// vsqrtps. Square roots are correctly rounded either way: same results.
let speed: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-Xcc", "-fno-math-errno"] + cpuFlags, .when(configuration: .release)),
]
let cpuCheck: [CSetting] = targetCPU == "haswell" ? [.define("LPFT_TARGET_AVX2", .when(configuration: .release))] : []

let package = Package(
    name: "lpft-mpi",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lpft-mpi", targets: ["lpft-mpi"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),  // 1.8: options that work as flags too (--tensorboard [DIR])
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: System libraries (found through pkg-config, no hard-coded paths)
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // MARK: C shim: the only code that includes <mpi.h>; its header is plain C.
        .target(name: "MPIShim", dependencies: ["CMPI"], path: "Sources/MPIShim",
                cSettings: [.unsafeFlags(["-O2"])] + cpuCheck),

        // MARK: Swift modules
        .target(name: "Model", dependencies: ["COpenBLAS"], path: "Sources/Model",
                swiftSettings: speed),
        .target(name: "Distributed",
                dependencies: ["Model", "MPIShim", .product(name: "Yams", package: "Yams")],
                path: "Sources/Distributed", swiftSettings: speed),
        .executableTarget(name: "lpft-mpi",
                          dependencies: ["Distributed", "Model",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/lpft-mpi", swiftSettings: speed),

        // MARK: Tests (unit tests + multi-rank tests that launch the built binary with mpirun)
        .testTarget(name: "ModelTests", dependencies: ["Model"], path: "Tests/ModelTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Model"],
                    path: "Tests/DistributedTests"),
    ],
    swiftLanguageModes: [.v5]
)

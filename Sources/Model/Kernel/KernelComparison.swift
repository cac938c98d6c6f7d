import Foundation

/// How an empirical NTK moves during training and how it lines up with the labels: the two
/// statistics `lpft-mpi report` follows over epochs (`train --ntk-every-epoch`). Matrices are
/// (N·C) × (N·C), rows example-major (row i·C + c), over the same examples in the same order.
public enum KernelComparison {
    /// ⟨A, B⟩_F = Σ A_ij B_ij.
    public static func frobeniusInner(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "kernels of different sizes")
        var sum = 0.0
        for i in a.indices { sum += a[i] * b[i] }
        return sum
    }

    /// Kernel distance d(K₀, K) = 1 − ⟨K₀, K⟩_F / (‖K₀‖_F ‖K‖_F) (Fort et al. 2020): 0 when K is
    /// a positive multiple of K₀, up to 2 for opposite kernels. Nil when either is zero.
    public static func distance(_ k0: [Double], _ k: [Double]) -> Double? {
        let norms = frobeniusInner(k0, k0).squareRoot() * frobeniusInner(k, k).squareRoot()
        guard norms > 0, norms.isFinite else { return nil }
        // Cauchy–Schwarz bounds the cosine by 1; rounding can pass it by an ulp (K against itself).
        return max(0, 1 - frobeniusInner(k0, k) / norms)
    }

    /// Kernel–label alignment ⟨K, YYᵀ⟩_F / (‖K‖_F ‖YYᵀ‖_F), Y the one-hot labels flattened in
    /// the kernel's row order (y_{i·C+c} = [c = label_i]): ⟨K, YYᵀ⟩_F = Yᵀ K Y sums the entries
    /// between each example's own-class rows, and ‖YYᵀ‖_F = ‖Y‖² = N. In [−1, 1]; nil when K is zero.
    public static func labelAlignment(_ k: [Double], labels: [Int], classes: Int) -> Double? {
        let n = labels.count, rows = n * classes
        precondition(k.count == rows * rows, "kernel of \(k.count) entries for \(n) examples × \(classes) classes")
        precondition(labels.allSatisfy { (0..<classes).contains($0) }, "labels outside 0..<classes")
        let norm = frobeniusInner(k, k).squareRoot()
        guard norm > 0, norm.isFinite, n > 0 else { return nil }
        var aligned = 0.0
        for i in 0..<n {
            let row = (i * classes + labels[i]) * rows
            for j in 0..<n { aligned += k[row + j * classes + labels[j]] }
        }
        return aligned / (norm * Double(n))
    }
}

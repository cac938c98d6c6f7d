import Foundation

/// Softmax cross-entropy averaged over the batch.
/// logits (B, C), labels (B) → returns mean −log softmax(z_b)[y_b] (computed in Double) and
/// writes dlogits (B, C) = (softmax(z) − onehot(y)) / B.
func crossEntropyForward<T: ModelScalar>(dlogits: UnsafeMutablePointer<T>, logits: UnsafePointer<T>,
                                         labels: [Int], batch B: Int, classes C: Int) -> Double {
    var total = 0.0
    for b in 0..<B {
        let z = logits + b * C, g = dlogits + b * C
        var m = Double(z[0])
        for c in 1..<C { m = max(m, Double(z[c])) }
        var sum = 0.0
        for c in 0..<C { sum += Foundation.exp(Double(z[c]) - m) }
        let logSum = m + Foundation.log(sum)
        total += logSum - Double(z[labels[b]])
        for c in 0..<C {
            let p = Foundation.exp(Double(z[c]) - logSum)
            g[c] = T((p - (c == labels[b] ? 1 : 0)) / Double(B))
        }
    }
    return total / Double(B)
}

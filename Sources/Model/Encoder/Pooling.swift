/// How `embed` turns token states into one vector per example.
public enum Pooling: String, Codable, Sendable, CaseIterable {
    /// The first token ([CLS] / <s>): the classifier feature of BERT and RoBERTa.
    case cls
    /// Mean over the real (unpadded) tokens, as sentence-transformers pools.
    case mean
    /// The last real token: the classifier feature of GPT-2.
    case last
}

extension SequenceClassifier {
    /// One vector per example of the last forward, (B, H) row-major. `.mean` needs
    /// forward(allTokens: true); `.cls`/`.last` read the token row directly when available.
    public func pooled(_ pooling: Pooling, normalize: Bool = false) -> [T] {
        let batch = lastBatch!
        let B = batch.batchSize, T_ = batch.seqLen, H = config.hidden
        var out = [T](repeating: 0, count: B * H)
        for b in 0..<B {
            let L = Int(batch.lengths[b])
            switch pooling {
            case .cls, .last:
                let position = pooling == .cls ? 0 : L - 1
                if !lastPruned || position == Int(batch.featurePositions[b]) {
                    let states = lastPruned ? features.baseAddress! + b * H
                                            : tokenStates.baseAddress! + (b * T_ + position) * H
                    for j in 0..<H { out[b * H + j] = states[j] }
                } else {
                    preconditionFailure("pooling \(pooling) of a non-feature token needs forward(allTokens: true)")
                }
            case .mean:
                let states = tokenStates.baseAddress!
                for t in 0..<L { for j in 0..<H { out[b * H + j] += states[(b * T_ + t) * H + j] } }
                for j in 0..<H { out[b * H + j] /= T(L) }
            }
            if normalize {
                var norm: T = 0
                for j in 0..<H { norm += out[b * H + j] * out[b * H + j] }
                let inv = 1 / max(norm.squareRoot(), 1e-12)
                for j in 0..<H { out[b * H + j] *= inv }
            }
        }
        return out
    }
}

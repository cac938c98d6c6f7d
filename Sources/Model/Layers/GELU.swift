/// GELU activations: exact (erf) for BERT/RoBERTa, tanh approximation ("gelu_new") for GPT-2.
public enum Activation: String, Codable, Sendable {
    case gelu          // x·Φ(x) = ½x(1 + erf(x/√2))
    case geluTanh      // ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
}

/// out = act(x) elementwise; count elements.
func activationForward<T: ModelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, count: Int,
                                       _ kind: Activation) {
    Parallel.forRanges(count, grain: 32768) { r in
        switch kind {
        case .gelu:
            let invSqrt2: T = 0.707_106_781_186_547_6
            for i in r { let v = x[i]; out[i] = 0.5 * v * (1 + T.errorFunction(v * invSqrt2)) }
        case .geluTanh:
            let c: T = 0.797_884_560_802_865_4  // √(2/π)
            for i in r {
                let v = x[i]
                let t: T = T.hyperbolicTangent(c * (v + 0.044715 * v * v * v))
                out[i] = 0.5 * v * (1 + t)
            }
        }
    }
}

/// dx = dout·act'(x) elementwise (overwrites dx: its one caller needs nothing added to, so no
/// clearing pass before it).
///   gelu:     act'(x) = Φ(x) + x·φ(x),  φ(x) = e^{−x²/2}/√(2π)
///   geluTanh: act'(x) = ½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²),  t = tanh(c(x + 0.044715x³))
func activationBackward<T: ModelScalar>(dx: UnsafeMutablePointer<T>, dout: UnsafePointer<T>, x: UnsafePointer<T>,
                                        count: Int, _ kind: Activation) {
    Parallel.forRanges(count, grain: 32768) { r in
        switch kind {
        case .gelu:
            let invSqrt2: T = 0.707_106_781_186_547_6, invSqrt2Pi: T = 0.398_942_280_401_432_7
            for i in r {
                let v = x[i]
                let cdf = 0.5 * (1 + T.errorFunction(v * invSqrt2))
                let pdf = invSqrt2Pi * T.exponential(-0.5 * v * v)
                dx[i] = dout[i] * (cdf + v * pdf)
            }
        case .geluTanh:
            let c: T = 0.797_884_560_802_865_4
            for i in r {
                let v = x[i]
                let v2: T = v * v
                let t: T = T.hyperbolicTangent(c * (v + 0.044715 * v2 * v))
                let inner: T = c * (1 + 0.134145 * v2)  // d/dv of c(v + 0.044715v³)
                let slope: T = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * inner
                dx[i] = dout[i] * slope
            }
        }
    }
}

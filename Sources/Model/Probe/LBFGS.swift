import Foundation

/// A smooth objective for `LBFGSMinimizer`: writes ∇f(x) into `gradient` and returns f(x).
/// Both buffers have the length of the parameter vector.
protocol SmoothObjective {
    mutating func evaluate(_ point: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>) -> Double
}

/// Why `LBFGSMinimizer.minimize` stopped.
enum LBFGSStop: Sendable, Equatable {
    /// max |∂f/∂x_j| ≤ gradientTolerance (scipy's L-BFGS-B "projected gradient" test; no bounds here).
    case gradientTolerance
    /// (f_old − f_new) / max(|f_old|, |f_new|, 1) ≤ relativeReductionTolerance (scipy's factr test).
    case relativeReduction
    case maxIterations
    /// The line search found no acceptable step even from the steepest-descent direction.
    case lineSearchFailed
    /// The objective or its gradient became NaN or infinite.
    case nonFinite

    /// Stops that scipy and scikit-learn treat as converged (no ConvergenceWarning).
    var isConverged: Bool { self == .gradientTolerance || self == .relativeReduction }
}

/// Limited-memory BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a strong-Wolfe line search
/// (Alg. 3.5/3.6, cubic interpolation), tuned like scipy's L-BFGS-B as scikit-learn calls it:
/// memory 10, sufficient-decrease 1e-3, curvature 0.9, at most 50 evaluations per line search,
/// first step 1/‖g‖₂, later steps 1, stop on max|g| ≤ gtol or relative reduction ≤ 64·eps.
struct LBFGSMinimizer {
    var memory = 10
    var gradientTolerance: Double
    var maxIterations: Int
    var maxLineSearchEvaluations = 50
    var relativeReductionTolerance = 64 * Double.ulpOfOne
    var sufficientDecrease = 1e-3
    var curvature = 0.9

    struct Result {
        var value: Double
        var iterations: Int
        var stop: LBFGSStop
    }

    /// Minimises `objective` starting from `x`, leaving the best point found in `x`.
    func minimize<Objective: SmoothObjective>(_ x: inout [Double], objective: inout Objective) -> Result {
        let size = x.count
        var gradient = [Double](repeating: 0, count: size)
        var direction = [Double](repeating: 0, count: size)
        var trialPoint = [Double](repeating: 0, count: size)
        var trialGradient = [Double](repeating: 0, count: size)
        var bestPoint = [Double](repeating: 0, count: size)
        var bestGradient = [Double](repeating: 0, count: size)
        var history = CurvatureHistory(memory: memory, size: size)

        var value = x.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { objective.evaluate(p.baseAddress!, gradient: $0.baseAddress!) }
        }
        guard value.isFinite, gradient.allSatisfy(\.isFinite) else {
            return Result(value: value, iterations: 0, stop: .nonFinite)
        }
        if maxAbsolute(gradient) <= gradientTolerance {
            return Result(value: value, iterations: 0, stop: .gradientTolerance)
        }

        var iterations = 0
        var steepestRestart = true  // first iteration and after a failed line search
        while iterations < maxIterations {
            history.searchDirection(gradient: gradient, into: &direction)
            var slope = dot(gradient, direction)
            if !(slope < 0) {  // not a descent direction (should not happen with sᵀy > 0): restart
                history.reset()
                for j in 0..<size { direction[j] = -gradient[j] }
                slope = dot(gradient, direction)
                steepestRestart = true
            }
            let firstStep = steepestRestart ? 1 / norm(direction) : 1
            let search = lineSearch(objective: &objective, origin: x, value: value, slope: slope,
                                    direction: direction, firstStep: firstStep,
                                    trialPoint: &trialPoint, trialGradient: &trialGradient,
                                    bestPoint: &bestPoint, bestGradient: &bestGradient)
            guard let (step, newValue) = search else {
                if steepestRestart { return Result(value: value, iterations: iterations, stop: .lineSearchFailed) }
                history.reset()  // as L-BFGS-B: forget the curvature pairs and retry once from −g
                steepestRestart = true
                continue
            }
            guard newValue.isFinite, bestGradient.allSatisfy(\.isFinite) else {
                return Result(value: value, iterations: iterations, stop: .nonFinite)
            }
            steepestRestart = false
            iterations += 1
            // s = x_new − x = step·d, y = g_new − g.
            history.push(step: step, direction: direction, newGradient: bestGradient, oldGradient: gradient)
            let oldValue = value
            swap(&x, &bestPoint)
            swap(&gradient, &bestGradient)
            value = newValue
            if maxAbsolute(gradient) <= gradientTolerance {
                return Result(value: value, iterations: iterations, stop: .gradientTolerance)
            }
            if (oldValue - value) / max(abs(oldValue), abs(value), 1) <= relativeReductionTolerance {
                return Result(value: value, iterations: iterations, stop: .relativeReduction)
            }
        }
        return Result(value: value, iterations: iterations, stop: .maxIterations)
    }

    /// Strong-Wolfe line search along `direction` from `origin`. On success the accepted point and
    /// its gradient are in `bestPoint`/`bestGradient` and (step, value) is returned.
    private func lineSearch<Objective: SmoothObjective>(
        objective: inout Objective, origin: [Double], value startValue: Double, slope startSlope: Double,
        direction: [Double], firstStep: Double,
        trialPoint: inout [Double], trialGradient: inout [Double],
        bestPoint: inout [Double], bestGradient: inout [Double]
    ) -> (Double, Double)? {
        var evaluations = 0
        // Evaluates f and its slope along the direction at `step`; the point stays in trialPoint/trialGradient.
        func probe(_ step: Double) -> (value: Double, slope: Double) {
            evaluations += 1
            for j in 0..<origin.count { trialPoint[j] = origin[j] + step * direction[j] }
            let value = trialPoint.withUnsafeBufferPointer { p in
                trialGradient.withUnsafeMutableBufferPointer { objective.evaluate(p.baseAddress!, gradient: $0.baseAddress!) }
            }
            return (value, dot(trialGradient, direction))
        }
        func accept(_ step: Double, _ value: Double) -> (Double, Double) {
            swap(&bestPoint, &trialPoint)
            swap(&bestGradient, &trialGradient)
            return (step, value)
        }
        func armijo(_ step: Double, _ value: Double) -> Bool {
            value <= startValue + sufficientDecrease * step * startSlope
        }
        let curvatureBound = -curvature * startSlope

        // Bracketing phase: (previous*) is the last step that satisfied sufficient decrease.
        var previousStep = 0.0, previousValue = startValue, previousSlope = startSlope
        var step = firstStep
        var low = (step: 0.0, value: startValue, slope: startSlope)
        var high = low
        var bracketed = false
        while evaluations < maxLineSearchEvaluations {
            let (value, slope) = probe(step)
            if !value.isFinite || !slope.isFinite || !armijo(step, value) || (evaluations > 1 && value >= previousValue) {
                low = (previousStep, previousValue, previousSlope)
                high = (step, value.isFinite ? value : .infinity, slope.isFinite ? slope : .infinity)
                bracketed = true
                break
            }
            if abs(slope) <= curvatureBound { return accept(step, value) }
            if slope >= 0 {
                low = (step, value, slope)
                high = (previousStep, previousValue, previousSlope)
                // The best point so far is `step`; keep it in case zoom runs out of evaluations.
                swap(&bestPoint, &trialPoint)
                swap(&bestGradient, &trialGradient)
                bracketed = true
                break
            }
            // Still descending steeply: remember this point and extrapolate (at most ×4).
            swap(&bestPoint, &trialPoint)
            swap(&bestGradient, &trialGradient)
            let next = cubicMinimizer(previousStep, previousValue, previousSlope, step, value, slope)
            previousStep = step; previousValue = value; previousSlope = slope
            step = min(max(next ?? 4 * step, 1.1 * step), 4 * step)
        }
        if !bracketed {
            return previousStep > 0 ? (previousStep, previousValue) : nil
        }

        // Zoom phase (Alg. 3.6): low satisfies sufficient decrease and has the lowest value seen.
        // bestPoint/bestGradient hold `low` whenever low.step > 0.
        while evaluations < maxLineSearchEvaluations {
            let width = abs(high.step - low.step)
            if width <= 1e-14 * max(low.step, high.step) { break }
            var step = high.value.isFinite && high.slope.isFinite
                ? cubicMinimizer(low.step, low.value, low.slope, high.step, high.value, high.slope) ?? .nan
                : .nan
            let lower = min(low.step, high.step) + 0.1 * width, upper = max(low.step, high.step) - 0.1 * width
            if !(step >= lower && step <= upper) { step = 0.5 * (low.step + high.step) }
            let (value, slope) = probe(step)
            if !value.isFinite || !slope.isFinite || !armijo(step, value) || value >= low.value {
                high = (step, value.isFinite ? value : .infinity, slope.isFinite ? slope : .infinity)
            } else {
                if abs(slope) <= curvatureBound { return accept(step, value) }
                if slope * (high.step - low.step) >= 0 { high = low }
                low = (step, value, slope)
                swap(&bestPoint, &trialPoint)
                swap(&bestGradient, &trialGradient)
            }
        }
        // Out of evaluations or the bracket collapsed: take the lowest sufficient-decrease point.
        return low.step > 0 ? (low.step, low.value) : nil
    }
}

/// The minimiser of the cubic through (a, fa, da) and (b, fb, db) (Nocedal & Wright eq. 3.59),
/// or nil when it does not exist.
private func cubicMinimizer(_ a: Double, _ fa: Double, _ da: Double,
                            _ b: Double, _ fb: Double, _ db: Double) -> Double? {
    let d1 = da + db - 3 * (fa - fb) / (a - b)
    let radicand = d1 * d1 - da * db
    guard radicand >= 0 else { return nil }
    let d2 = (b > a ? 1.0 : -1.0) * radicand.squareRoot()
    let denominator = db - da + 2 * d2
    guard denominator != 0 else { return nil }
    let result = b - (b - a) * (db + d2 - d1) / denominator
    return result.isFinite ? result : nil
}

/// The last `memory` pairs (s, y) and the two-loop recursion for H·g.
private struct CurvatureHistory {
    let memory: Int, size: Int
    var steps: [Double], gradientChanges: [Double], inverseCurvatures: [Double]
    var count = 0, newest = -1
    var alphas: [Double]

    init(memory: Int, size: Int) {
        self.memory = memory; self.size = size
        steps = [Double](repeating: 0, count: memory * size)
        gradientChanges = steps
        inverseCurvatures = [Double](repeating: 0, count: memory)
        alphas = inverseCurvatures
    }

    mutating func reset() { count = 0; newest = -1 }

    /// Adds s = step·direction, y = newGradient − oldGradient unless sᵀy ≤ eps·yᵀy (no positive curvature).
    mutating func push(step: Double, direction: [Double], newGradient: [Double], oldGradient: [Double]) {
        let slot = (newest + 1) % memory
        var sy = 0.0, yy = 0.0
        steps.withUnsafeMutableBufferPointer { s in
            gradientChanges.withUnsafeMutableBufferPointer { y in
                let base = slot * size
                for j in 0..<size {
                    let sj = step * direction[j], yj = newGradient[j] - oldGradient[j]
                    s[base + j] = sj; y[base + j] = yj
                    sy += sj * yj; yy += yj * yj
                }
            }
        }
        guard sy > Double.ulpOfOne * yy else { return }
        inverseCurvatures[slot] = 1 / sy
        newest = slot
        count = min(count + 1, memory)
    }

    /// direction = −H·gradient with H₀ = (sᵀy / yᵀy)·I from the newest pair.
    mutating func searchDirection(gradient: [Double], into direction: inout [Double]) {
        for j in 0..<size { direction[j] = -gradient[j] }
        guard count > 0 else { return }
        let size = self.size
        steps.withUnsafeBufferPointer { s in
            gradientChanges.withUnsafeBufferPointer { y in
                direction.withUnsafeMutableBufferPointer { q in
                    for back in 0..<count {
                        let slot = (newest - back + memory) % memory, base = slot * size
                        var sq = 0.0
                        for j in 0..<size { sq += s[base + j] * q[j] }
                        let alpha = inverseCurvatures[slot] * sq
                        alphas[slot] = alpha
                        for j in 0..<size { q[j] -= alpha * y[base + j] }
                    }
                    let newestBase = newest * size
                    var yy = 0.0
                    for j in 0..<size { yy += y[newestBase + j] * y[newestBase + j] }
                    let scale = 1 / (inverseCurvatures[newest] * yy)  // sᵀy / yᵀy
                    for j in 0..<size { q[j] *= scale }
                    for forward in stride(from: count - 1, through: 0, by: -1) {
                        let slot = (newest - forward + memory) % memory, base = slot * size
                        var yq = 0.0
                        for j in 0..<size { yq += y[base + j] * q[j] }
                        let beta = inverseCurvatures[slot] * yq
                        let correction = alphas[slot] - beta
                        for j in 0..<size { q[j] += correction * s[base + j] }
                    }
                }
            }
        }
    }
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    var sum = 0.0
    for j in 0..<a.count { sum += a[j] * b[j] }
    return sum
}

private func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

private func maxAbsolute(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }

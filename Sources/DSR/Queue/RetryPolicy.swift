/// Exponential backoff with jitter: attempt n waits between half and all of
/// `min(maxDelay, baseDelay * 2^(n-1))`, so failing jobs spread out instead of retrying in step.
public struct RetryPolicy: Sendable, Equatable {
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(baseDelay: Duration, maxDelay: Duration) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay after failed attempt `attempt` (1-based); `jitter` in 0...1.
    public func delay(afterAttempt attempt: Int, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let base = baseDelay.seconds
        let ceiling = min(maxDelay.seconds, base * Double(UInt64(1) << UInt64(exponent)))
        let clamped = min(max(jitter, 0), 1)
        return .milliseconds(Int64((ceiling * (0.5 + 0.5 * clamped) * 1000).rounded()))
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

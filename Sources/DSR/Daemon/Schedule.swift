extension InstantProtocol where Duration == Swift.Duration {
    /// The first tick of a schedule that ticks every `interval` from `self` (the tick just
    /// made) that falls after `now`: a round that overran skips the ticks it missed instead of
    /// running them back to back, and the schedule keeps its phase.
    func nextTick(every interval: Duration, after now: Self) -> Self {
        var next = advanced(by: interval)
        while next <= now { next = next.advanced(by: interval) }
        return next
    }
}

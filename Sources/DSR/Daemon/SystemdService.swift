import Logging
import ServiceLifecycle

/// Tells systemd how dsrd is doing: `READY=1` once the worker pool's first database
/// round-trip succeeded, `WATCHDOG=1` while the fetch loop keeps going round (a stuck loop
/// stops the pings and systemd restarts the service), `STOPPING=1` at shutdown.
///
/// List it last in the service group: services shut down in reverse order, so it is the
/// first to hear of a shutdown and announces it at once.
public struct SystemdService: Service {
    let notifier: SystemdNotifier
    let readiness: Readiness
    let logger: Logger

    public init(notifier: SystemdNotifier = SystemdNotifier(), readiness: Readiness, logger: Logger) {
        self.notifier = notifier
        self.readiness = readiness
        self.logger = logger
    }

    public func run() async throws {
        guard notifier.isEnabled else {
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            var announced = false
            let clock = ContinuousClock()
            var lastPing = clock.now
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if !announced && readiness.isReady {
                    notifier.notify("READY=1\nSTATUS=processing requests")
                    announced = true
                    logger.info("told systemd we are ready")
                }
                // Ping at half the watchdog interval, and only while the fetch loop is alive.
                if announced, let watchdog = notifier.watchdogInterval,
                    clock.now - lastPing >= watchdog / 2, readiness.sinceLastTick < watchdog
                {
                    notifier.notify("WATCHDOG=1")
                    lastPing = clock.now
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        } onGracefulShutdown: {
            notifier.notify("STOPPING=1\nSTATUS=finishing in-flight jobs")
        }
    }
}

import DSR
import DSRTestSupport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("systemd notification protocol")
struct SystemdNotifyTests {
    /// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let descriptor: Int32

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }

        deinit {
            close(descriptor)
            unlink(path)
        }
    }

    @Test func notifierSendsToAPathSocket() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogInterval == .seconds(2))
        #expect(notifier.notify("READY=1"))
        #expect(socket.receive() == "READY=1")
        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
        #expect(
            SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
    }

    @Test func daemonSendsReadyWatchdogAndStopping() async throws {
        try await TestDatabase.migrated { database, _ in
            let socket = try NotifySocket()
            let daemon = try DaemonProcess(
                database.runArguments(), environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
            var messages: [String] = []
            _ = try await eventually(timeout: .seconds(30), every: .milliseconds(1)) {
                if let message = socket.receive() { messages.append(message) }
                return messages.contains { $0.hasPrefix("READY=1") } && messages.filter { $0 == "WATCHDOG=1" }.count >= 2
            }
            #expect(messages.first?.hasPrefix("READY=1") == true, "\(messages) \(daemon.output)")
            #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 2)
            daemon.signal(SIGTERM)
            _ = try await eventually(timeout: .seconds(30), every: .milliseconds(1)) {
                if let message = socket.receive() { messages.append(message) }
                return messages.contains { $0.hasPrefix("STOPPING=1") }
            }
            #expect(messages.contains { $0.hasPrefix("STOPPING=1") })
            #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0)
        }
    }
}

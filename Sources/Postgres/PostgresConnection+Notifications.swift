import CLibPQ
import Foundation

/// A message received through `LISTEN`.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// Server process id of the session that sent it.
    public var senderPID: Int32
}

extension PostgresConnection {
    /// Subscribes to a channel. Channel names are plain identifiers (`[a-z_][a-z0-9_]*`),
    /// which is checked because `LISTEN` cannot take a bound parameter.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try Self.checkedChannel(channel))")
    }

    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN \(try Self.checkedChannel(channel))")
    }

    /// Sends a notification through `pg_notify`, with both values bound.
    public func notify(_ channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// Waits up to `timeout` for notifications on the channels this connection listens
    /// to and returns those that arrived (possibly none). Blocks only this connection's
    /// thread; keep the timeout short and loop to stay responsive to cancellation.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        let handle = try liveHandle()
        var received = try drainNotifications(handle)
        if !received.isEmpty { return received }
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, max(0, milliseconds))
        if ready < 0 && errno != EINTR {
            throw PostgresError(kind: .connection, message: "poll failed on the connection socket")
        }
        if ready > 0 { received = try drainNotifications(handle) }
        return received
    }

    private func drainNotifications(_ handle: OpaquePointer) throws -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else {
            throw PostgresError.from(connection: handle, fallback: "connection lost while waiting for notifications")
        }
        var received: [PostgresNotification] = []
        while let notification = PQnotifies(handle) {
            let value = notification.pointee
            received.append(
                PostgresNotification(
                    channel: String(cString: value.relname),
                    payload: value.extra.map { String(cString: $0) } ?? "",
                    senderPID: value.be_pid))
            PQfreemem(notification)
        }
        return received
    }

    static func checkedChannel(_ channel: String) throws -> String {
        let valid =
            !channel.isEmpty && channel.utf8.count <= 63
            && channel.unicodeScalars.enumerated().allSatisfy { index, scalar in
                scalar == "_" || ("a"..."z").contains(scalar) || (index > 0 && ("0"..."9").contains(scalar))
            }
        guard valid else {
            throw PostgresError(kind: .usage, message: "channel names must match [a-z_][a-z0-9_]*")
        }
        return channel
    }
}

import Hummingbird
import NIOCore

/// Each portal request's context: Hummingbird's core storage plus the peer's address, which
/// the rate limits need (or the proxy's `X-Forwarded-For`, see `PortalServer.clientAddress`).
public struct PortalContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

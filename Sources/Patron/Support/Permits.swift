import Dispatch

extension DispatchSemaphore {
    /// A semaphore holding `count` permits that may be freed with some of them taken.
    ///
    /// libdispatch traps (SIGILL: "Semaphore object deallocated while in use") when a
    /// semaphore is freed with a value below the one it was created with. A bounded
    /// queue whose receiver gives up mid-stream is freed with permits still taken, so
    /// its semaphore is made at zero and given its permits by `signal()`, which that
    /// check does not count.
    static func permits(_ count: Int) -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        for _ in 0..<count { semaphore.signal() }
        return semaphore
    }
}

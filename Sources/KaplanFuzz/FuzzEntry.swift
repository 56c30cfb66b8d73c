import KaplanLoading

// Placeholder: the fuzz helper replaces this with the libFuzzer entry and the corpus replayer.
@main enum FuzzEntry { static func main() {} }

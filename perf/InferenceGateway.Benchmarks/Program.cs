using BenchmarkDotNet.Running;

// Every benchmark in this assembly, chosen with BenchmarkDotNet's switches, e.g.
//   dotnet run -c Release -- --filter '*BatcherOverhead*' --job short
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

using InferenceGateway.Server.Hosting;

return await GatewayHost.RunAsync(args).ConfigureAwait(false);

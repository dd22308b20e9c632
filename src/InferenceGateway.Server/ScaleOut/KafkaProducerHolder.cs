using System.Text;
using Confluent.Kafka;
using Google.Protobuf;
using InferenceGateway.Server.Hosting;
using ContractEvent = InferenceGateway.Contracts.Gateway.Event;

namespace InferenceGateway.Server.ScaleOut;

/// <summary>
/// The replica's Kafka producer: IngestEvents writes each event to its stream's topic (protobuf <c>gateway.v1.Event</c>,
/// keyed by entity id, murmur2 partitioning as Java producers use, so events of one entity from any producer land on
/// one partition), and the ingestor parks poison messages through it. Idempotent, <c>acks=all</c>: an event is
/// acknowledged to the client only once the log holds it.
/// </summary>
public sealed class KafkaProducerHolder : IDisposable
{
    private readonly KafkaSettings _settings;

    /// <summary>Creates the producer.</summary>
    public KafkaProducerHolder(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = options.Kafka;
        var config = new ProducerConfig(new Dictionary<string, string>(_settings.Settings))
        {
            BootstrapServers = _settings.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 1,
            Partitioner = Partitioner.Murmur2Random,
            ClientId = $"inference-gateway-{Environment.ProcessId}",
        };
        Producer = new ProducerBuilder<byte[]?, byte[]>(config).Build();
    }

    /// <summary>The producer (thread-safe).</summary>
    public IProducer<byte[]?, byte[]> Producer { get; }

    /// <summary>Writes one event to its stream's topic; completes when the log acknowledged it.</summary>
    public Task<DeliveryResult<byte[]?, byte[]>> ProduceAsync(ContractEvent e, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(e);
        return Producer.ProduceAsync(
            _settings.TopicPrefix + e.Stream,
            new Message<byte[]?, byte[]> { Key = Encoding.UTF8.GetBytes(e.EntityId), Value = e.ToByteArray() },
            cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Whatever is still queued had no acknowledgement yet, so no client was told it was accepted.
        Producer.Flush(TimeSpan.FromSeconds(5));
        Producer.Dispose();
    }
}

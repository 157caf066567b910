/** The charts of the monitoring page, a chunk of their own (Recharts is large). */
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { Schemas } from "../api/client";
import { Empty } from "../components/ui";

const PALETTE = ["#1d4ed8", "#15803d", "#b45309", "#7c3aed", "#b91c1c"];

export default function Charts({ metrics }: { metrics: Schemas["WorkspaceMetrics"] }) {
  const platforms = metrics.publishing.platforms.map((p) => ({
    platform: p.platform,
    successRate: p.successRate === null ? null : Math.round(p.successRate * 1000) / 10,
    latencyAvg: p.latencyMs.avg,
    latencyP95: p.latencyMs.p95,
    latenessAvg: p.latenessMs.avg,
    latenessP95: p.latenessMs.p95,
  }));
  if (platforms.length === 0)
    return (
      <Empty>
        <p>Nothing was published in this period yet: the charts appear after the first post goes out.</p>
      </Empty>
    );
  const names = [...new Set(metrics.series.map((s) => s.platform))];
  const byBucket = new Map<string, Record<string, number | string | null>>();
  for (const point of metrics.series) {
    const row = byBucket.get(point.bucketStart) ?? {
      time: new Date(point.bucketStart).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" }),
    };
    row[point.platform] = point.avgLatenessMs;
    byBucket.set(point.bucketStart, row);
  }
  return (
    <div className="charts">
      <figure>
        <figcaption>Success rate by platform (%)</figcaption>
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={platforms}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="platform" />
            <YAxis domain={[0, 100]} />
            <Tooltip />
            <Bar dataKey="successRate" name="Success rate %" fill="#15803d" />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure>
        <figcaption>Latency by platform (ms)</figcaption>
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={platforms}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="platform" />
            <YAxis />
            <Tooltip />
            <Legend />
            <Bar dataKey="latencyAvg" name="Average" fill="#1d4ed8" />
            <Bar dataKey="latencyP95" name="p95" fill="#7c3aed" />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure>
        <figcaption>Lateness over time, average by platform (ms)</figcaption>
        <ResponsiveContainer width="100%" height={220}>
          <LineChart data={[...byBucket.values()]}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="time" />
            <YAxis />
            <Tooltip />
            <Legend />
            {names.map((name, i) => (
              <Line
                key={name}
                dataKey={name}
                stroke={PALETTE[i % PALETTE.length]}
                strokeDasharray={i ? "4 2" : undefined}
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </figure>
      {/* A table's width follows its content: the wrapper, not the table, is hidden. */}
      <div className="visually-hidden">
        <table>
          <caption>Figures by platform</caption>
          <thead>
            <tr>
              <th scope="col">Platform</th>
              <th scope="col">Success rate %</th>
              <th scope="col">Latency average ms</th>
              <th scope="col">Lateness average ms</th>
            </tr>
          </thead>
          <tbody>
            {platforms.map((p) => (
              <tr key={p.platform}>
                <td>{p.platform}</td>
                <td>{p.successRate ?? "—"}</td>
                <td>{p.latencyAvg ?? "—"}</td>
                <td>{p.latenessAvg ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

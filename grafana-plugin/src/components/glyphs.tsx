// Shape encodings, so no condition is told by colour alone: alert severities are solid signs with a cut-out
// (triangle = critical, diamond = warning, circle = info), connectivity problems are outline/symbol shapes
// (barred circle = offline, hourglass = silent, dashed box with "?" = unknown), healthy is a tick. Inline SVG
// paths rather than Grafana's <Icon>: thousands of tiles must not each load an icon, and these render
// identically in Grafana and the test harness.
import React from 'react';
import { Condition } from '../data/status';

export type GlyphKind = Condition | 'maintenance';

const PATHS: Record<GlyphKind, React.ReactNode> = {
  critical: <path fillRule="evenodd" d="M8 .8 15.6 14.8H.4Z M7 5.2h2v5.2H7Z M7 11.4h2v2H7Z" />,
  warning: <path fillRule="evenodd" d="M8 .4 15.6 8 8 15.6.4 8Z M7 3.8h2v5.4H7Z M7 10.2h2v2H7Z" />,
  info: <path fillRule="evenodd" d="M8 .5a7.5 7.5 0 1 1 0 15A7.5 7.5 0 0 1 8 .5Z M7 6.6h2v5.8H7Z M7 3.6h2v2H7Z" />,
  offline: (
    <g fill="none" stroke="currentColor" strokeWidth="2.2">
      <circle cx="8" cy="8" r="6.2" />
      <path d="M3.6 3.6l8.8 8.8" />
    </g>
  ),
  silent: <path d="M3 1h10v2.2L9.2 8l3.8 4.8V15H3v-2.2L6.8 8 3 3.2Z" />,
  unknown: (
    <g>
      <rect
        x="1.2"
        y="1.2"
        width="13.6"
        height="13.6"
        rx="2"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.6"
        strokeDasharray="3 2"
      />
      <text x="8" y="12" textAnchor="middle" fontSize="10" fontWeight="700" fill="currentColor" fontFamily="sans-serif">
        ?
      </text>
    </g>
  ),
  ok: <path d="M2.2 8.6 6.2 12.4 13.8 3.8" fill="none" stroke="currentColor" strokeWidth="2.4" />,
  maintenance: (
    <path d="M11.6 1a3.4 3.4 0 0 0-3.2 4.5L1.6 12.3a1.5 1.5 0 0 0 2.1 2.1l6.8-6.8A3.4 3.4 0 0 0 15 4.4l-2 2-2.2-.4-.4-2.2 2-2A3.4 3.4 0 0 0 11.6 1Z" />
  ),
};

export function Glyph({ kind, className, title }: { kind: GlyphKind; className?: string; title?: string }) {
  return (
    <svg
      viewBox="0 0 16 16"
      width="1em"
      height="1em"
      fill="currentColor"
      className={className}
      aria-hidden={title ? undefined : true}
      role={title ? 'img' : undefined}
      aria-label={title}
      data-glyph={kind}
      style={{ flex: 'none', verticalAlign: '-0.125em' }}
    >
      {PATHS[kind]}
    </svg>
  );
}

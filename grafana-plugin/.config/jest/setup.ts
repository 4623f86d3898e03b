// jsdom lacks a few browser APIs that @grafana/ui touches at import or render time.
import '@testing-library/jest-dom';

if (typeof window !== 'undefined' && !window.matchMedia) {
  Object.defineProperty(window, 'matchMedia', {
    writable: true,
    value: (query: string) => ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
      dispatchEvent: () => false,
    }),
  });
}

if (!(global as any).ResizeObserver) {
  (global as any).ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
}

// react-dom/server (pulled in by @grafana/ui) needs these at import time; jsdom does not provide them.
import { TextDecoder, TextEncoder } from 'util';
Object.assign(global, { TextEncoder, TextDecoder });

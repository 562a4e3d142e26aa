// A QR code as an SVG drawn with DOM calls, so a participant link can go from
// a researcher's screen to a phone. The encoding is qrcode-generator's (a
// small, dependency-free implementation of ISO/IEC 18004).

import qrcode from "qrcode-generator";

const SVG = "http://www.w3.org/2000/svg";

/**
 * `text` as a QR code (error correction M, the smallest version that fits),
 * dark modules on a light square with the four-module quiet zone readers
 * need. `label` is its text alternative.
 */
export function qrSvg(text: string, label: string): SVGSVGElement {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const modules = code.getModuleCount();
  const size = modules + 8;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("class", "qr");
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", String(size));
  background.setAttribute("height", String(size));
  background.setAttribute("fill", "#fff");
  svg.append(background);
  // One path for all dark modules: a unit square per module.
  let d = "";
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (code.isDark(row, col)) d += `M${col + 4} ${row + 4}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(path);
  return svg;
}

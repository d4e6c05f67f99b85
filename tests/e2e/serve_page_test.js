// End-to-end test of the `i2v serve` page in headless chromium: pick an image, generate with the
// built-in tiny model, watch progress and the live preview, play and download the video, find
// it in the history, and check the page at phone width. Screenshots go to $SHOTS when set.
// usage: node serve_page_test.js <url> <image> <download dir>
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [url, image, downloadDir] = process.argv.slice(2);
const shots = process.env.SHOTS || "";
const step = (m) => console.log("e2e: " + m);
function check(cond, message) {
  if (!cond) throw new Error("check failed: " + message);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
  });
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 880 }, acceptDownloads: true });
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
    page.setDefaultTimeout(60000);

    await page.goto(url);
    await page.waitForFunction(() => !document.querySelector("#system").textContent.startsWith("connecting"));
    check(!(await page.textContent("#system")).includes("unreachable"), "the page reaches the API");
    await page.waitForFunction(() => document.querySelector("#estimate").textContent.includes("GiB") ||
      document.querySelector("#estimate").textContent.includes("MiB"));
    step("page loaded: " + (await page.textContent("#system")));

    // Every control has an accessible label.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => e.type !== "file" && !document.querySelector(`label[for="${e.id}"]`) && !e.getAttribute("aria-label"))
      .map((e) => e.id));
    check(unlabelled.length === 0, "labels for " + unlabelled.join(","));

    await page.setInputFiles("#image", image);
    await page.waitForSelector("#image-preview:not([hidden])");
    await page.fill("#prompt", "A red fox running through fresh snow");
    await page.fill("#negative_prompt", "blurry");
    await page.click("[data-preset=quick]");
    check((await page.inputValue("#resolution")) === "256p", "quick preset sets 256p");
    check((await page.inputValue("#frames")) === "8", "quick preset sets 8 frames");
    // A small custom size and few steps keep the test fast on the tiny model (its VAE scales
    // by 2, so 256p would denoise 128x128 latents); the dice gives a concrete seed.
    await page.selectOption("#resolution", "custom");
    await page.waitForSelector("#width:visible");
    await page.fill("#width", "64");
    await page.fill("#height", "64");
    await page.fill("#steps", "4");
    await page.click("#dice");
    const seed = Number(await page.inputValue("#seed"));
    check(seed >= 0, "the dice picks a seed");
    await page.waitForTimeout(400);  // let the estimate refresh
    if (shots) await page.screenshot({ path: path.join(shots, "serve-idle.png") });
    step("form filled (seed " + seed + ")");

    await page.click("#generate");
    await page.waitForSelector("#progress:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#progress-text").textContent.includes("s/step"));
    await page.waitForSelector("#live-preview:not([hidden])");
    // Show the state as a person would see it: the progress panel in view.
    const progressText = await page.textContent("#progress-text");
    check(/ETA/.test(progressText) && /RSS/.test(progressText), "progress shows ETA and memory: " + progressText);
    if (shots) await page.screenshot({ path: path.join(shots, "serve-generating.png") });
    step("progress: " + progressText);

    await page.waitForSelector("#player:not([hidden])", { timeout: 180000 });
    const video = await page.evaluate(async () => {
      const v = document.querySelector("#player");
      v.muted = true;
      if (v.readyState < 1) await new Promise((r, j) => { v.onloadedmetadata = r; v.onerror = () => j(new Error("video error " + (v.error && v.error.code))); });
      await v.play();
      await new Promise((r) => setTimeout(r, 600));
      return { w: v.videoWidth, h: v.videoHeight, duration: v.duration, t: v.currentTime, paused: v.paused };
    });
    step("video: " + JSON.stringify(video));
    check(video.w === 64 && video.h === 64, "the video is 64x64");
    check(Math.abs(video.duration - 1.0) < 0.2, "8 frames at 8 fps last about 1 s");
    check(video.t > 0 && !video.paused, "the video plays");
    const status = await page.textContent("#status");
    check(await page.isHidden("#cancel"), "no cancel button on a finished video");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const file = path.join(downloadDir, download.suggestedFilename());
    await download.saveAs(file);
    const bytes = fs.readFileSync(file);
    check(/^video_\d{8}_\d{6}(_\d+)?_j\d+-\d+\.mp4$/.test(download.suggestedFilename()), "download name " + download.suggestedFilename());
    check(bytes.length > 1000 && bytes.toString("latin1", 4, 8) === "ftyp", "the download is an MP4");
    step("downloaded " + download.suggestedFilename() + " (" + bytes.length + " bytes)");

    await page.waitForSelector("#history li.item img");
    const historyText = await page.textContent("#history");
    check(historyText.includes("A red fox running") && historyText.includes("seed " + seed), "the history lists the video");
    await page.evaluate(() => window.scrollTo(0, 0));
    if (shots) await page.screenshot({ path: path.join(shots, "serve-done.png"), fullPage: true });
    step("history has it; status: " + status);

    // Re-run with the same settings fills the form from the job.
    await page.fill("#prompt", "");
    await page.click("#history li.item button:has-text('Re-run')");
    await page.waitForFunction(() => document.querySelector("#prompt").value.includes("A red fox running"));
    check(Number(await page.inputValue("#seed")) === seed, "re-run restores the seed");

    // Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    check(overflow <= 390, "no horizontal scrolling at phone width (" + overflow + " px)");
    if (shots) await page.screenshot({ path: path.join(shots, "serve-phone.png") });

    check(errors.length === 0, "no page errors: " + errors.join(" | "));
    step("passed");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("e2e: FAILED: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});

// Live view of one camera from its HLS URL (camera.streams.hls, served by MediaMTX).
// The vendored hls.js (loaded when a live view is first opened) plays it through Media Source
// Extensions, with the same low-latency behaviour and error reports everywhere; browsers without
// MSE that play HLS natively (older iOS Safari) get the URL directly.

let hlsModule = null;

async function loadHls() {
  if (!hlsModule) hlsModule = import("./vendor/hls.light.min.js");
  return (await hlsModule).default;
}

export class LiveView {
  constructor(section, video, status, title) {
    this.section = section;
    this.video = video;
    this.status = status;
    this.title = title;
    this.hls = null;
  }

  async open(camera) {
    this.close();
    const url = camera.streams && camera.streams.hls;
    this.section.hidden = false;
    this.title.textContent = `Live view: ${camera.name || camera.device}`;
    if (!url) {
      this.status.textContent = "This camera has no HLS stream.";
      return;
    }
    this.status.textContent = "Starting stream…";
    this.video.addEventListener("playing", () => { this.status.textContent = "Playing live."; }, { once: true });
    let Hls = null;
    try {
      Hls = await loadHls();
    } catch (err) {
      console.warn("hls.js failed to load", err);
    }
    if (Hls && Hls.isSupported()) {
      // no worker: it would be a blob: script, which the Content-Security-Policy does not allow
      this.hls = new Hls({ enableWorker: false, lowLatencyMode: true });
      this.hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) this.status.textContent = `Live view stopped: ${data.details}`;
      });
      this.hls.loadSource(url);
      this.hls.attachMedia(this.video);
    } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
      this.video.src = url;
    } else {
      this.status.textContent = "This browser cannot play HLS.";
      return;
    }
    this.video.play().catch(() => { /* autoplay may be refused; the controls remain */ });
    this.section.scrollIntoView({ block: "nearest" });
  }

  close() {
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.video.removeAttribute("src");
    this.video.load();
    this.section.hidden = true;
    this.status.textContent = "";
  }
}
